package notify

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

var msg = Message{
	Key: "notify/demo/x/1/reminder", CeremonyID: "demo/x", Kind: KindReminder,
	Subject: "Reminder: Release x needs your signature", Text: "Please sign.\n.a line starting with a dot",
	URL: "http://localhost:4000/ceremonies/demo/x",
	To:  []Recipient{{ID: "alice", Name: "Alice", Email: "alice@example.org"}, {ID: "bob"}},
}

// fakeSMTP is a minimal SMTP server that records one transaction per connection.
type fakeSMTP struct {
	l    net.Listener
	mu   sync.Mutex
	rcpt []string
	data []string
}

func startFakeSMTP(t *testing.T, reject bool) *fakeSMTP {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSMTP{l: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(c, reject)
		}
	}()
	return s
}

func (s *fakeSMTP) serve(c net.Conn, reject bool) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(l string) { io.WriteString(c, l+"\r\n") }
	say("220 fake ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250-fake")
			say("250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL FROM"):
			if reject {
				say("451 try again later")
				continue
			}
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO"):
			s.mu.Lock()
			s.rcpt = append(s.rcpt, strings.TrimSpace(line[8:]))
			s.mu.Unlock()
			say("250 ok")
		case cmd == "DATA":
			say("354 go ahead")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.mu.Lock()
			s.data = append(s.data, b.String())
			s.mu.Unlock()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func TestSMTPDeliversToRecipientsWithEmail(t *testing.T) {
	srv := startFakeSMTP(t, false)
	n := &SMTP{Addr: srv.l.Addr().String(), From: "guildhall@example.org", now: func() time.Time { return time.Unix(0, 0) }}
	if err := n.Notify(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.rcpt) != 1 || !strings.Contains(srv.rcpt[0], "alice@example.org") {
		t.Fatalf("recipients = %v", srv.rcpt)
	}
	if len(srv.data) != 1 || !strings.Contains(srv.data[0], "Subject: Reminder: Release x needs your signature") ||
		!strings.Contains(srv.data[0], "X-Guildhall-Ceremony: demo/x") || !strings.Contains(srv.data[0], "\r\n..a line starting with a dot\r\n") ||
		!strings.Contains(srv.data[0], msg.URL) {
		t.Fatalf("data = %q", srv.data)
	}
}

func TestSMTPFailureIsAnError(t *testing.T) {
	srv := startFakeSMTP(t, true)
	n := &SMTP{Addr: srv.l.Addr().String(), From: "guildhall@example.org"}
	if err := n.Notify(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "451") {
		t.Fatalf("err = %v, want the server's 451", err)
	}
	// Nobody with an e-mail: nothing to do, no error.
	if err := n.Notify(context.Background(), Message{To: []Recipient{{ID: "bob"}}}); err != nil {
		t.Fatal(err)
	}
}

func TestWebhookFormats(t *testing.T) {
	var got []map[string]any
	var keys []string
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		got = append(got, body)
		keys = append(keys, r.Header.Get("Idempotency-Key")+"|"+r.Header.Get("Authorization"))
		w.WriteHeader(status)
	}))
	defer srv.Close()
	for _, f := range []string{"", FormatSlack} {
		n := &Webhook{URL: srv.URL, Format: f, Header: http.Header{"Authorization": {"Bearer t"}}}
		if err := n.Notify(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 {
		t.Fatalf("posts = %d", len(got))
	}
	text, _ := got[0]["text"].(string)
	if !strings.HasPrefix(text, "*Reminder") || !strings.Contains(text, "For: Alice, bob") || got[0]["ceremonyId"] != "demo/x" {
		t.Fatalf("json payload = %v", got[0])
	}
	if len(got[1]) != 1 || got[1]["text"] != text {
		t.Fatalf("slack payload = %v", got[1])
	}
	if keys[0] != msg.Key+"|Bearer t" {
		t.Fatalf("headers = %v", keys)
	}
	status = http.StatusInternalServerError
	if err := (&Webhook{URL: srv.URL}).Notify(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("err = %v, want 500", err)
	}
}

func TestNew(t *testing.T) {
	ns := New(Settings{}, nil)
	if len(ns) != 1 || ns[0].Channel() != "log" {
		t.Fatalf("default = %v", ns)
	}
	ns = New(Settings{SMTPAddr: "mail:25", SMTPFrom: "guildhall@example.org", WebhookURL: "http://x", WebhookFormat: "slack"}, nil)
	if len(ns) != 2 || ns[0].Channel() != "smtp" || ns[1].Channel() != "webhook" || ns[0].(*SMTP).From != "guildhall@example.org" {
		t.Fatalf("configured = %v", ns)
	}
	r := &Recorder{}
	_ = r.Notify(context.Background(), msg)
	if len(r.Sent()) != 1 {
		t.Fatal("recorder did not record")
	}
}
