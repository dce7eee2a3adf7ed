package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/guildhouse/guildhall/statement"
)

// Registering a key claims its holder holds the private key, and the chain then
// says so. Two rules make the claim true: an ed25519 key registers only with a
// proof of possession (a fresh challenge issued here for that person, signed
// with the private key; AddProvenKey), and no key is registered to two people
// (AddProvenKey and AddCredential both refuse, ErrKeyTaken).

// KeyChallengeTTL is how long a key challenge can be answered.
const KeyChallengeTTL = 10 * time.Minute

// ErrKeyTaken means the key is registered to another person.
var ErrKeyTaken = errors.New("this key is registered to another person")

// KeyProofError says why a proof of possession was not accepted, in words for
// the key's holder.
type KeyProofError struct{ Reason string }

func (e *KeyProofError) Error() string { return "key proof not accepted: " + e.Reason }

type keyChallenge struct {
	bun.BaseModel `bun:"table:key_challenges"`

	Nonce     string     `bun:"nonce,pk"`
	WitnessID string     `bun:"witness_id,notnull"`
	IssuedAt  time.Time  `bun:"issued_at,notnull"`
	ExpiresAt time.Time  `bun:"expires_at,notnull"`
	UsedAt    *time.Time `bun:"used_at"`
}

// NewKeyChallenge issues a challenge for witnessID to sign with the key they
// register (statement.ProvePossession). It can be answered once, within
// KeyChallengeTTL.
func (s *Store) NewKeyChallenge(ctx context.Context, witnessID string) (statement.KeyChallenge, error) {
	if _, err := s.GetWitness(ctx, witnessID); err != nil {
		return statement.KeyChallenge{}, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return statement.KeyChallenge{}, err
	}
	// Whole seconds: the time travels as text and must compare equal.
	now := time.Now().UTC().Truncate(time.Second)
	c := keyChallenge{Nonce: base64.RawURLEncoding.EncodeToString(b), WitnessID: witnessID, IssuedAt: now, ExpiresAt: now.Add(KeyChallengeTTL)}
	if _, err := s.DB.NewDelete().Model((*keyChallenge)(nil)).Where("expires_at < ?", now.Add(-24*time.Hour)).Exec(ctx); err != nil {
		return statement.KeyChallenge{}, fmt.Errorf("prune key challenges: %w", err)
	}
	if _, err := s.DB.NewInsert().Model(&c).Exec(ctx); err != nil {
		return statement.KeyChallenge{}, fmt.Errorf("issue a key challenge: %w", err)
	}
	return statement.KeyChallenge{WitnessID: witnessID, Nonce: c.Nonce, IssuedAt: now}, nil
}

// AddProvenKey registers the ed25519 key a proof of possession names for
// witnessID: the proof must verify, answer an unused, unexpired challenge
// issued for witnessID, and the key must not be another person's. The proof
// goes on the chain with the registration. Registering a key already held
// changes nothing. by is who registers it: the witness on the web, or
// cli:<user>; the proof shows only that someone holds the private key.
func (s *Store) AddProvenKey(ctx context.Context, witnessID string, p statement.Possession, label, by string) (Credential, error) {
	if _, err := p.Verify(); err != nil {
		return Credential{}, &KeyProofError{Reason: err.Error()}
	}
	st := p.Statement
	if st.WitnessID != witnessID {
		return Credential{}, &KeyProofError{Reason: fmt.Sprintf("it was made for %s, not for %s", st.WitnessID, witnessID)}
	}
	c := Credential{Type: statement.KeyEd25519, KeyID: st.KeyID, PublicKey: st.PublicKey, Label: label}
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		w, err := s.lockWitness(ctx, tx, witnessID)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		if err := s.useChallenge(ctx, tx, st, now); err != nil {
			return err
		}
		c.AddedAt = now
		return s.addCredentialTx(ctx, tx, w, c, now, by, "/"+st.Nonce, map[string]any{"possession": p})
	})
	return c, err
}

// useChallenge marks the challenge a proof answers as used, if it may be.
func (s *Store) useChallenge(ctx context.Context, tx bun.Tx, st statement.PossessionStatement, now time.Time) error {
	var ch keyChallenge
	q := tx.NewSelect().Model(&ch).Where("nonce = ?", st.Nonce)
	if s.Dialect == Postgres {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		if errors.Is(notFound(err, ""), ErrNotFound) {
			return &KeyProofError{Reason: "it answers no challenge issued here; ask for a new challenge"}
		}
		return fmt.Errorf("read key challenge: %w", err)
	}
	issued, _ := time.Parse(time.RFC3339Nano, st.IssuedAt)
	switch {
	case ch.WitnessID != st.WitnessID:
		return &KeyProofError{Reason: "its challenge was issued to someone else"}
	case !issued.Equal(ch.IssuedAt):
		return &KeyProofError{Reason: "it does not match the challenge issued"}
	case ch.UsedAt != nil:
		return &KeyProofError{Reason: "its challenge was used already; ask for a new one"}
	case now.After(ch.ExpiresAt):
		return &KeyProofError{Reason: fmt.Sprintf("its challenge expired (challenges last %s); ask for a new one", KeyChallengeTTL)}
	}
	if _, err := tx.NewUpdate().Model((*keyChallenge)(nil)).Set("used_at = ?", now).Where("nonce = ?", st.Nonce).Exec(ctx); err != nil {
		return fmt.Errorf("use key challenge: %w", err)
	}
	return nil
}

// keyHolder is who else holds a key like c, if anyone: the same public key, or
// a passkey with the same credential id.
func (s *Store) keyHolder(ctx context.Context, tx bun.Tx, witnessID string, c Credential) (string, error) {
	var ws []Witness
	// LIKE narrows the rows (base64 has no % and the public key no _); the
	// comparison below decides.
	if err := tx.NewSelect().Model(&ws).Column("id", "credentials").Where("id <> ?", witnessID).
		WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("credentials LIKE ?", "%"+c.PublicKey+"%").WhereOr("credentials LIKE ?", "%"+c.KeyID+"%")
		}).Scan(ctx); err != nil {
		return "", fmt.Errorf("look for the key's other holders: %w", err)
	}
	for _, w := range ws {
		for _, have := range w.Credentials {
			if have.Type == c.Type && (have.PublicKey == c.PublicKey || (c.Type != statement.KeyEd25519 && have.KeyID == c.KeyID)) {
				return w.ID, nil
			}
		}
	}
	return "", nil
}
