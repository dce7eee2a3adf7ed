package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/guildhouse/guildhall/custody"
)

// WebKey is a key the web app vouches for its logins and API tokens with.
type WebKey struct {
	bun.BaseModel `bun:"table:web_keys"`

	KeyID     string    `bun:"key_id,pk"`
	PublicKey string    `bun:"public_key,notnull"` // base64 ed25519
	AddedAt   time.Time `bun:"added_at,notnull"`
}

// RegisterWebKey records the web app's vouching key (at every start; the same
// key again changes nothing). Each new key is a custody event, so the chain
// shows from when the workflows trusted it.
func (s *Store) RegisterWebKey(ctx context.Context, keyID, publicKey string) error {
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := s.lockChain(ctx, tx); err != nil {
			return err
		}
		var have []WebKey
		if err := tx.NewSelect().Model(&have).Where("key_id = ?", keyID).Scan(ctx); err != nil {
			return fmt.Errorf("read web key: %w", err)
		}
		if len(have) == 1 {
			if have[0].PublicKey != publicKey {
				return fmt.Errorf("web key %s is registered with another public key", keyID)
			}
			return nil
		}
		now := time.Now().UTC()
		if _, err := tx.NewInsert().Model(&WebKey{KeyID: keyID, PublicKey: publicKey, AddedAt: now}).Exec(ctx); err != nil {
			return fmt.Errorf("register web key: %w", err)
		}
		_, _, err := s.appendCustody(ctx, tx, NewEvent{Type: custody.TypeWebKeyRegistered, Actor: "guildhall-web", OccurredAt: now,
			IdempotencyKey: "webkey/" + keyID, Data: map[string]any{"keyId": keyID, "publicKey": publicKey}})
		return err
	})
}

// WebKeys lists the registered web keys, oldest first.
func (s *Store) WebKeys(ctx context.Context) ([]WebKey, error) {
	var out []WebKey
	if err := s.DB.NewSelect().Model(&out).Order("added_at ASC", "key_id ASC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list web keys: %w", err)
	}
	return out, nil
}
