package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/rules"
)

// WebKey is a key the web app vouches for its logins and API tokens with.
type WebKey struct {
	bun.BaseModel `bun:"table:web_keys"`

	KeyID     string    `bun:"key_id,pk"`
	PublicKey string    `bun:"public_key,notnull"` // base64 ed25519
	AddedAt   time.Time `bun:"added_at,notnull"`
	// RetiredAt is set once an operator retired the key (after rotating
	// SESSION_SECRET): the workflows no longer trust it. The row stays so the
	// key that vouched earlier signatures is still on record.
	RetiredAt    *time.Time `bun:"retired_at"`
	RetiredBy    string     `bun:"retired_by,notnull"`
	RetireReason string     `bun:"retire_reason,notnull"`
}

// Retired reports whether an operator retired the key.
func (k WebKey) Retired() bool { return k.RetiredAt != nil }

// ErrWebKeyRetired is what registering a retired web key fails with (as a
// *WebKeyRetiredError, which says by whom, when and why): a retired key stays
// retired, since the secret it derives from is the one that was rotated away.
var ErrWebKeyRetired = errors.New("web key retired")

// WebKeyRetiredError is ErrWebKeyRetired for one key.
type WebKeyRetiredError struct{ Key WebKey }

func (e *WebKeyRetiredError) Error() string {
	return fmt.Sprintf("web key %s was retired by %s at %s (%s)", e.Key.KeyID, e.Key.RetiredBy,
		e.Key.RetiredAt.UTC().Format(time.RFC3339), e.Key.RetireReason)
}

// Unwrap makes errors.Is(err, ErrWebKeyRetired) hold.
func (e *WebKeyRetiredError) Unwrap() error { return ErrWebKeyRetired }

// RegisterWebKey records the web app's vouching key (at every start; the same
// key again changes nothing). Each new key is a custody event, so the chain
// shows from when the workflows trusted it. A retired key is refused with a
// *WebKeyRetiredError, never trusted again.
func (s *Store) RegisterWebKey(ctx context.Context, keyID, publicKey string) error {
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := s.lockChain(ctx, tx); err != nil {
			return err
		}
		have, ok, err := webKey(ctx, tx, keyID)
		if err != nil {
			return err
		}
		if ok {
			if have.PublicKey != publicKey {
				return fmt.Errorf("web key %s is registered with another public key", keyID)
			}
			if have.Retired() {
				return &WebKeyRetiredError{Key: have}
			}
			return nil
		}
		now := time.Now().UTC()
		if _, err := tx.NewInsert().Model(&WebKey{KeyID: keyID, PublicKey: publicKey, AddedAt: now}).Exec(ctx); err != nil {
			return fmt.Errorf("register web key: %w", err)
		}
		_, _, err = s.appendCustody(ctx, tx, NewEvent{Type: custody.TypeWebKeyRegistered, Actor: "guildhall-web", OccurredAt: now,
			IdempotencyKey: "webkey/" + keyID, Data: map[string]any{"keyId": keyID, "publicKey": publicKey}})
		return err
	})
}

// RetireWebKey stops the workflows trusting a web vouching key, on by's word
// and for reason (required, see rules.CheckWebKeyRetirement): a custody event,
// after which WebKeys leaves the key out and RegisterWebKey refuses it. An
// unknown key is ErrNotFound; retiring a retired key changes nothing and
// reports false.
func (s *Store) RetireWebKey(ctx context.Context, keyID, by, reason string) (bool, error) {
	if err := rules.CheckWebKeyRetirement(reason); err != nil {
		return false, err
	}
	reason = strings.TrimSpace(reason)
	retired := false
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := s.lockChain(ctx, tx); err != nil {
			return err
		}
		k, ok, err := webKey(ctx, tx, keyID)
		switch {
		case err != nil:
			return err
		case !ok:
			return fmt.Errorf("web key %s: %w", keyID, ErrNotFound)
		case k.Retired():
			return nil
		}
		now := time.Now().UTC()
		if _, err := tx.NewUpdate().Model((*WebKey)(nil)).Set("retired_at = ?", now).Set("retired_by = ?", by).
			Set("retire_reason = ?", reason).Where("key_id = ?", keyID).Exec(ctx); err != nil {
			return fmt.Errorf("retire web key %s: %w", keyID, err)
		}
		retired = true
		_, _, err = s.appendCustody(ctx, tx, NewEvent{Type: custody.TypeWebKeyRetired, Actor: by, OccurredAt: now,
			IdempotencyKey: "webkey-retired/" + keyID, Data: map[string]any{"keyId": keyID, "reason": reason, "by": by}})
		return err
	})
	return retired, err
}

func webKey(ctx context.Context, db bun.IDB, keyID string) (WebKey, bool, error) {
	var have []WebKey
	if err := db.NewSelect().Model(&have).Where("key_id = ?", keyID).Scan(ctx); err != nil {
		return WebKey{}, false, fmt.Errorf("read web key %s: %w", keyID, err)
	}
	if len(have) == 0 {
		return WebKey{}, false, nil
	}
	return have[0], true, nil
}

// WebKeys lists the web keys the workflows trust (registered and not retired),
// oldest first.
func (s *Store) WebKeys(ctx context.Context) ([]WebKey, error) {
	return s.webKeys(ctx, false)
}

// AllWebKeys lists every registered web key, retired ones too, oldest first.
func (s *Store) AllWebKeys(ctx context.Context) ([]WebKey, error) {
	return s.webKeys(ctx, true)
}

func (s *Store) webKeys(ctx context.Context, withRetired bool) ([]WebKey, error) {
	var out []WebKey
	q := s.DB.NewSelect().Model(&out).Order("added_at ASC", "key_id ASC")
	if !withRetired {
		q = q.Where("retired_at IS NULL")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("list web keys: %w", err)
	}
	return out, nil
}
