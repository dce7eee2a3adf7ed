package notify

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"
)

// SMTP sends each message as one plain-text e-mail to the recipients that have
// an e-mail address (Bcc style: every recipient sees only the sender).
type SMTP struct {
	Addr     string // host:port
	From     string
	Username string // optional PLAIN auth
	Password string
	// Timeout bounds one delivery (default 30s).
	Timeout time.Duration
	// now is overridable in tests.
	now func() time.Time
}

// Channel implements Notifier.
func (*SMTP) Channel() string { return "smtp" }

// Notify implements Notifier.
func (s *SMTP) Notify(ctx context.Context, m Message) error {
	var to []string
	for _, r := range m.To {
		if addr, err := mail.ParseAddress(r.Email); err == nil {
			to = append(to, addr.Address)
		}
	}
	if len(to) == 0 {
		return nil // nobody reachable by e-mail; other channels may reach them
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.send(to, s.compose(m)) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("smtp %s: %w", s.Addr, ctx.Err())
	}
}

func (s *SMTP) send(to []string, msg []byte) error {
	var auth smtp.Auth
	if s.Username != "" {
		host, _, _ := net.SplitHostPort(s.Addr)
		auth = smtp.PlainAuth("", s.Username, s.Password, host)
	}
	if err := smtp.SendMail(s.Addr, auth, s.From, to, msg); err != nil {
		return fmt.Errorf("smtp %s: %w", s.Addr, err)
	}
	return nil
}

func (s *SMTP) compose(m Message) []byte {
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", s.From)
	header("To", "undisclosed-recipients:;")
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", now().UTC().Format(time.RFC1123Z))
	header("Message-ID", "<"+strings.NewReplacer("/", ".", " ", "").Replace(m.Key)+"@guildhall>")
	header("MIME-Version", "1.0")
	header("Content-Type", `text/plain; charset="utf-8"`)
	header("Content-Transfer-Encoding", "8bit")
	header("X-Guildhall-Ceremony", m.CeremonyID)
	header("X-Guildhall-Kind", m.Kind)
	b.WriteString("\r\n")
	body := m.Text
	if m.URL != "" {
		body += "\n\n" + m.URL
	}
	// net/smtp's DATA writer dot-stuffs lines itself.
	for _, line := range strings.Split(body, "\n") {
		b.WriteString(strings.TrimRight(line, "\r") + "\r\n")
	}
	return b.Bytes()
}
