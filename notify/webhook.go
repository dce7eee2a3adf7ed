package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Webhook formats.
const (
	// FormatJSON posts the whole Message plus a "text" field.
	FormatJSON = "json"
	// FormatSlack posts only {"text": …}, which Slack (and Mattermost, Rocket.Chat,
	// Discord's /slack endpoint) incoming webhooks accept.
	FormatSlack = "slack"
)

// Webhook posts each message as JSON to a URL. Both formats carry a "text" field
// with the subject, the text, the people concerned and the link, so a Slack
// compatible endpoint shows something readable either way.
type Webhook struct {
	URL    string
	Format string // FormatJSON (default) or FormatSlack
	Client *http.Client
	// Header is added to every request (e.g. an Authorization token).
	Header http.Header
}

// Channel implements Notifier.
func (*Webhook) Channel() string { return "webhook" }

// WebhookPayload is what FormatJSON posts.
type WebhookPayload struct {
	Text string `json:"text"`
	Message
}

// Notify implements Notifier.
func (w *Webhook) Notify(ctx context.Context, m Message) error {
	text := SlackText(m)
	var body any = WebhookPayload{Text: text, Message: m}
	if w.Format == FormatSlack {
		body = map[string]string{"text": text}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", m.Key)
	for k, vs := range w.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s: %s", resp.Status, strings.TrimSpace(string(snippet)))
	}
	return nil
}

// SlackText renders a message as one Slack mrkdwn text.
func SlackText(m Message) string {
	var b strings.Builder
	b.WriteString("*" + m.Subject + "*\n" + m.Text)
	if len(m.To) > 0 {
		names := make([]string, len(m.To))
		for i, r := range m.To {
			names[i] = r.ID
			if r.Name != "" {
				names[i] = r.Name
			}
		}
		b.WriteString("\nFor: " + strings.Join(names, ", "))
	}
	if m.URL != "" {
		b.WriteString("\n<" + m.URL + "|Open the ceremony>")
	}
	return b.String()
}
