package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/guildhouse/guildhall/custody"
)

// NotificationRecord is a delivery (or final failure) of one notification over one
// channel, as the custody event records it.
type NotificationRecord struct {
	// Key is the notification's key; the custody event's key is Key + "/" + Channel
	// for a delivery and Key + "/failed" for a final failure.
	Key        string
	CeremonyID string
	Kind       string
	Channel    string
	To         []string
	Subject    string
	Text       string
	At         time.Time
	Error      string // set for failures
}

// DeliveryKey is the custody idempotency key of a delivery over a channel.
func DeliveryKey(key, channel string) string { return key + "/" + channel }

// Delivered reports whether a delivery over a channel is already on the chain,
// so a retried notification never reaches the same channel twice.
func (s *Store) Delivered(ctx context.Context, key, channel string) (bool, error) {
	n, err := s.DB.NewSelect().Model((*CustodyEvent)(nil)).Where("idempotency_key = ?", DeliveryKey(key, channel)).Count(ctx)
	if err != nil {
		return false, fmt.Errorf("look up delivery %s: %w", key, err)
	}
	return n > 0, nil
}

// RecordNotification appends a delivery (Error empty) or a final failure.
func (s *Store) RecordNotification(ctx context.Context, r NotificationRecord) error {
	if r.Key == "" {
		return errors.New("notification needs a key")
	}
	e := NewEvent{
		Type: custody.TypeNotification, CeremonyID: r.CeremonyID, Actor: r.Channel,
		IdempotencyKey: DeliveryKey(r.Key, r.Channel), OccurredAt: r.At,
		Data: map[string]any{"key": r.Key, "kind": r.Kind, "channel": r.Channel, "to": nonNil(r.To),
			"subject": r.Subject, "text": r.Text},
	}
	if r.Error != "" {
		e.Type, e.IdempotencyKey = custody.TypeNotificationFailed, r.Key+"/failed"
		e.Data = map[string]any{"key": r.Key, "kind": r.Kind, "to": nonNil(r.To), "subject": r.Subject, "error": r.Error}
	}
	_, err := s.AppendCustody(ctx, e)
	return err
}

// Notifications lists a ceremony's notification custody events (deliveries and
// failures) in order: the development "outbox".
func (s *Store) Notifications(ctx context.Context, ceremonyID string) ([]CustodyEvent, error) {
	var out []CustodyEvent
	err := s.DB.NewSelect().Model(&out).Where("ceremony_id = ?", ceremonyID).
		Where("type IN (?, ?)", custody.TypeNotification, custody.TypeNotificationFailed).Order("seq ASC").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("notifications of %s: %w", ceremonyID, err)
	}
	return out, nil
}
