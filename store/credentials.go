package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/statement"
)

// Registered signing keys live in witnesses.credentials. Adding and removing a
// key are custody events, so the chain shows which key belonged to whom, and
// from when, independently of the witnesses table.

// AddCredential registers a passkey for a witness, after the WebAuthn
// registration ceremony checked it. An ed25519 key needs a proof of possession
// (AddProvenKey). Registering the same key again changes nothing; another key
// under the same id, or a key another person holds, is refused.
func (s *Store) AddCredential(ctx context.Context, witnessID string, c Credential) error {
	if c.Type == "" || c.KeyID == "" || c.PublicKey == "" {
		return fmt.Errorf("a credential needs a type, a key id and a public key")
	}
	if c.Type == statement.KeyEd25519 {
		return &KeyProofError{Reason: "an ed25519 key registers only with a proof that its holder has the private key (AddProvenKey)"}
	}
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		w, err := s.lockWitness(ctx, tx, witnessID)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		if c.AddedAt.IsZero() {
			c.AddedAt = now
		}
		return s.addCredentialTx(ctx, tx, w, c, now, w.ID, "", nil)
	})
}

// addCredentialTx adds c to w's keys and the chain within tx (which holds the
// chain and w's row), as done by by; keySuffix keeps the custody idempotency
// key of a new registration of a key held before distinct, and extra goes into
// its data.
func (s *Store) addCredentialTx(ctx context.Context, tx bun.Tx, w Witness, c Credential, now time.Time, by, keySuffix string, extra map[string]any) error {
	for _, have := range w.Credentials {
		if have.KeyID == c.KeyID && have.Type == c.Type {
			if have.PublicKey == c.PublicKey {
				return nil
			}
			return fmt.Errorf("%s already has a different %s key with id %s", w.ID, c.Type, c.KeyID)
		}
	}
	if other, err := s.keyHolder(ctx, tx, w.ID, c); err != nil {
		return err
	} else if other != "" {
		return fmt.Errorf("%s key %s: %w", c.Type, c.KeyID, ErrKeyTaken)
	}
	w.Credentials = append(w.Credentials, c)
	if err := s.saveCredentials(ctx, tx, w.ID, w.Credentials, now); err != nil {
		return err
	}
	data := map[string]any{"witnessId": w.ID, "type": c.Type, "keyId": c.KeyID, "publicKey": c.PublicKey, "label": c.Label}
	for k, v := range extra {
		data[k] = v
	}
	_, _, err := s.appendCustody(ctx, tx, NewEvent{
		Type: custody.TypeKeyRegistered, Actor: by,
		IdempotencyKey: "key/" + w.ID + "/" + c.Type + "/" + c.KeyID + "/added" + keySuffix, OccurredAt: now,
		Data: data,
	})
	return err
}

// RemoveCredential unregisters a key, as done by by (the witness on the web, or
// cli:<user>); signatures already made with it keep the copy stored with them.
// Removing a key that is not registered is an error.
func (s *Store) RemoveCredential(ctx context.Context, witnessID, keyID, by string) error {
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		w, err := s.lockWitness(ctx, tx, witnessID)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(w.Credentials, func(c Credential) bool { return c.KeyID == keyID })
		if i < 0 {
			return fmt.Errorf("%s has no key %s: %w", witnessID, keyID, ErrNotFound)
		}
		gone := w.Credentials[i]
		now := time.Now().UTC()
		if err := s.saveCredentials(ctx, tx, witnessID, slices.Delete(w.Credentials, i, i+1), now); err != nil {
			return err
		}
		// A key id may be registered again later, so the removal time keeps the
		// idempotency key unique.
		_, _, err = s.appendCustody(ctx, tx, NewEvent{
			Type: custody.TypeKeyRemoved, Actor: by,
			IdempotencyKey: fmt.Sprintf("key/%s/%s/%s/removed/%d", witnessID, gone.Type, keyID, now.UnixNano()), OccurredAt: now,
			Data: map[string]any{"witnessId": witnessID, "type": gone.Type, "keyId": keyID, "publicKey": gone.PublicKey},
		})
		return err
	})
}

// RecordSignCount stores a passkey's signature counter after a signature made
// with it. It changes that one key only: a key registered or removed meanwhile
// stays as it is. The counter is bookkeeping against cloned authenticators, not
// a custody event. An unknown key is ErrNotFound.
func (s *Store) RecordSignCount(ctx context.Context, witnessID, keyID string, n uint32) error {
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var w Witness
		q := tx.NewSelect().Model(&w).Column("id", "credentials").Where("id = ?", witnessID)
		if s.Dialect == Postgres {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			return notFound(err, "witness "+witnessID)
		}
		i := slices.IndexFunc(w.Credentials, func(c Credential) bool { return c.Type == "webauthn" && c.KeyID == keyID })
		if i < 0 {
			return fmt.Errorf("%s has no passkey %s: %w", witnessID, keyID, ErrNotFound)
		}
		w.Credentials[i].SignCount = n
		return s.saveCredentials(ctx, tx, witnessID, w.Credentials, time.Now().UTC())
	})
}

// WitnessKey is a registered credential with its owner.
type WitnessKey struct {
	WitnessID string
	Credential
}

// WitnessKeys returns the registered keys of the given witnesses, by witness id
// then key id. Unknown witnesses simply have none.
func (s *Store) WitnessKeys(ctx context.Context, ids []string) ([]WitnessKey, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var ws []Witness
	if err := s.DB.NewSelect().Model(&ws).Column("id", "credentials").Where("id IN (?)", bun.List(ids)).
		Order("id ASC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("read keys of %d witnesses: %w", len(ids), err)
	}
	var out []WitnessKey
	for _, w := range ws {
		creds := slices.Clone(w.Credentials)
		slices.SortFunc(creds, func(a, b Credential) int {
			if a.Type != b.Type {
				return cmp.Compare(a.Type, b.Type)
			}
			return cmp.Compare(a.KeyID, b.KeyID)
		})
		for _, c := range creds {
			out = append(out, WitnessKey{WitnessID: w.ID, Credential: c})
		}
	}
	return out, nil
}

// credential finds one registered key of a witness within tx.
func (s *Store) credential(ctx context.Context, tx bun.Tx, witnessID, typ, keyID string) (Credential, bool, error) {
	var raw string
	err := tx.NewSelect().Model((*Witness)(nil)).Column("credentials").Where("id = ?", witnessID).Scan(ctx, &raw)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Credential{}, false, nil
		}
		return Credential{}, false, fmt.Errorf("read keys of %s: %w", witnessID, err)
	}
	var creds []Credential
	if err := json.Unmarshal([]byte(raw), &creds); err != nil {
		return Credential{}, false, fmt.Errorf("keys of %s are not readable: %w", witnessID, err)
	}
	for _, c := range creds {
		if c.KeyID == keyID && (typ == "" || c.Type == typ) {
			return c, true, nil
		}
	}
	return Credential{}, false, nil
}

// lockWitness locks the custody chain, then the witness's row, for a change to
// its keys that goes on the chain: chain lock first, the order every custody
// writer uses.
func (s *Store) lockWitness(ctx context.Context, tx bun.Tx, id string) (Witness, error) {
	var w Witness
	if err := s.lockChain(ctx, tx); err != nil {
		return w, err
	}
	q := tx.NewSelect().Model(&w).Where("id = ?", id)
	if s.Dialect == Postgres {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return w, notFound(err, "witness "+id)
	}
	return w, nil
}

func (s *Store) saveCredentials(ctx context.Context, tx bun.Tx, id string, creds []Credential, now time.Time) error {
	if creds == nil {
		creds = []Credential{}
	}
	if _, err := tx.NewUpdate().Model((*Witness)(nil)).Set("credentials = ?", jsonText(creds)).
		Set("updated_at = ?", now).Where("id = ?", id).Exec(ctx); err != nil {
		return fmt.Errorf("save keys of %s: %w", id, err)
	}
	return nil
}
