// Package notify delivers ceremony notifications (opened, reminder, amended,
// outcome, attention) to people: by e-mail over SMTP, to a JSON webhook (Slack
// compatible), or, for development, to the log. The Ceremony workflow decides what
// to say and when; the Notify activity (activities/notify.go) calls the Notifiers
// configured here and records each delivery on the custody chain.
package notify

import (
	"context"
	"log/slog"
	"strings"
	"sync"
)

// Kinds of notification.
const (
	KindOpened    = "opened"
	KindReminder  = "reminder"
	KindAmended   = "amended"
	KindOutcome   = "outcome"
	KindAttention = "attention"
)

// Recipient is a person to notify.
type Recipient struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// Message is one notification to a set of people.
type Message struct {
	// Key identifies the notification; a channel delivers a key at most once.
	Key        string      `json:"key"`
	CeremonyID string      `json:"ceremonyId"`
	Kind       string      `json:"kind"`
	Subject    string      `json:"subject"`
	Text       string      `json:"text"`
	URL        string      `json:"url,omitempty"`
	To         []Recipient `json:"to"`
}

// Notifier delivers messages over one channel.
type Notifier interface {
	// Channel names the channel in custody events and logs: "smtp", "webhook", "log".
	Channel() string
	// Notify delivers m. An error means it should be tried again later.
	Notify(ctx context.Context, m Message) error
}

// Recorder is the development notifier: it logs each message and keeps it in
// memory (tests read Sent). The Notify activity also writes every delivery, with
// its subject and text, to the custody chain in the Ops DB, so the recorder's
// messages can be read back there.
type Recorder struct {
	Log *slog.Logger
	mu  sync.Mutex
	out []Message
}

// Channel implements Notifier.
func (*Recorder) Channel() string { return "log" }

// Notify implements Notifier.
func (r *Recorder) Notify(_ context.Context, m Message) error {
	log := r.Log
	if log == nil {
		log = slog.Default()
	}
	ids := make([]string, len(m.To))
	for i, to := range m.To {
		ids[i] = to.ID
	}
	log.Info("notification", "kind", m.Kind, "ceremony", m.CeremonyID, "to", strings.Join(ids, ","), "subject", m.Subject, "key", m.Key)
	r.mu.Lock()
	r.out = append(r.out, m)
	if len(r.out) > recorderKeep {
		r.out = append([]Message(nil), r.out[len(r.out)-recorderKeep:]...)
	}
	r.mu.Unlock()
	return nil
}

// recorderKeep bounds what a Recorder keeps in memory in a long-running worker.
const recorderKeep = 1000

// Sent returns the messages recorded so far (the latest 1000).
func (r *Recorder) Sent() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.out...)
}

// Settings say which channels deliver notifications (internal/config loads them
// from NOTIFY_*, with its defaults, such as the sender; its checks have run).
type Settings struct {
	SMTPAddr, SMTPFrom, SMTPUsername, SMTPPassword string
	WebhookURL, WebhookFormat                      string
}

// New builds the notifiers the settings turn on: e-mail when SMTPAddr is set, the
// webhook when WebhookURL is set. With neither it returns the development
// Recorder, which logs.
func New(s Settings, log *slog.Logger) []Notifier {
	var out []Notifier
	if s.SMTPAddr != "" {
		out = append(out, &SMTP{Addr: s.SMTPAddr, From: s.SMTPFrom, Username: s.SMTPUsername, Password: s.SMTPPassword})
	}
	if s.WebhookURL != "" {
		out = append(out, &Webhook{URL: s.WebhookURL, Format: s.WebhookFormat})
	}
	if len(out) == 0 {
		out = append(out, &Recorder{Log: log})
	}
	return out
}
