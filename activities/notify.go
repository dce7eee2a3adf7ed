package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/guildhouse/guildhall/notify"
	"github.com/guildhouse/guildhall/store"
)

// Notification is the input of Notify: what the workflow wants said, to whom
// (witness ids), under a key unique to this notification.
type Notification struct {
	Key        string
	CeremonyID string
	Kind       string
	To         []string
	Subject    string
	Text       string
	At         time.Time
}

var defaultRecorder = &notify.Recorder{}

func (a *Activities) notifiers() []notify.Notifier {
	if len(a.Notifiers) > 0 {
		return a.Notifiers
	}
	return []notify.Notifier{defaultRecorder}
}

// Notify delivers a notification over every configured channel and writes one
// notification.delivered custody event per channel. A channel that already has
// its delivery on the chain is skipped, so retries never send twice; if any
// channel fails the activity fails and Temporal retries the rest.
func (a *Activities) Notify(ctx context.Context, n Notification) error {
	if len(n.To) == 0 {
		return nil
	}
	msg := notify.Message{Key: n.Key, CeremonyID: n.CeremonyID, Kind: n.Kind, Subject: n.Subject, Text: n.Text,
		To: a.recipients(ctx, n.To)}
	if a.BaseURL != "" {
		msg.URL = strings.TrimRight(a.BaseURL, "/") + "/ceremonies/" + n.CeremonyID
	}
	var errs []error
	for _, ch := range a.notifiers() {
		done, err := a.Store.Delivered(ctx, n.Key, ch.Channel())
		if err != nil {
			return err
		}
		if done {
			continue
		}
		if err := ch.Notify(ctx, msg); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ch.Channel(), err))
			continue
		}
		if err := a.Store.RecordNotification(ctx, store.NotificationRecord{
			Key: n.Key, CeremonyID: n.CeremonyID, Kind: n.Kind, Channel: ch.Channel(), To: n.To,
			Subject: n.Subject, Text: n.Text, At: n.At,
		}); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// NotificationFailed is the input of RecordNotificationFailed.
type NotificationFailed struct {
	Notification
	Error string
}

// RecordNotificationFailed writes the final failure of a notification (after all
// of Notify's attempts) to the custody chain.
func (a *Activities) RecordNotificationFailed(ctx context.Context, in NotificationFailed) error {
	return a.Store.RecordNotification(ctx, store.NotificationRecord{
		Key: in.Key, CeremonyID: in.CeremonyID, Kind: in.Kind, To: in.To, Subject: in.Subject,
		At: in.At, Error: in.Error,
	})
}

// recipients looks witnesses up in the Ops DB for their names and e-mail
// addresses; an id that looks like an address is used as one.
func (a *Activities) recipients(ctx context.Context, ids []string) []notify.Recipient {
	out := make([]notify.Recipient, 0, len(ids))
	for _, id := range ids {
		r := notify.Recipient{ID: id}
		if w, err := a.Store.GetWitness(ctx, id); err == nil {
			r.Name, r.Email = w.DisplayName, w.Email
		}
		if r.Email == "" && strings.Contains(id, "@") {
			r.Email = id
		}
		out = append(out, r)
	}
	return out
}
