package statement

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Proof of possession. Registering an ed25519 key is a claim that the person
// holds its private key; the chain then records them as its holder. So a key is
// registered only with a fresh challenge, issued by the Ops DB for one person,
// signed with the private key: nobody can register a public key they merely
// copied, and a proof cannot be replayed (each challenge is used once and
// expires). The signed statement is kept with the key's custody event, so the
// proof can be checked later without Guildhall.

// PossessionType names the statement a key holder signs.
const PossessionType = "guildhall.key-possession.v1"

// Prefixes of the texts people copy between the account page and the CLI.
const (
	challengePrefix  = "ghc1."
	possessionPrefix = "ghp1."
)

// KeyChallenge is what the Ops DB asks a key holder to sign: for one witness,
// a random nonce, from a moment (store.NewKeyChallenge).
type KeyChallenge struct {
	WitnessID string    `json:"witnessId"`
	Nonce     string    `json:"nonce"`
	IssuedAt  time.Time `json:"issuedAt"`
}

// String is the challenge as the account page shows it and `guildhall
// prove-key` reads it.
func (c KeyChallenge) String() string {
	b, _ := json.Marshal(KeyChallenge{WitnessID: c.WitnessID, Nonce: c.Nonce, IssuedAt: c.IssuedAt.UTC()})
	return challengePrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ParseKeyChallenge reads a challenge as String writes it.
func ParseKeyChallenge(s string) (KeyChallenge, error) {
	var c KeyChallenge
	if err := decodeText(s, challengePrefix, &c); err != nil {
		return c, fmt.Errorf("not a key challenge (it starts with %s; copy it whole from the account page): %w", challengePrefix, err)
	}
	if c.WitnessID == "" || c.Nonce == "" || c.IssuedAt.IsZero() {
		return c, errors.New("the key challenge is incomplete; copy it whole from the account page")
	}
	return c, nil
}

// PossessionStatement is what the key holder signs: the challenge and the key.
type PossessionStatement struct {
	Type      string `json:"type"`
	WitnessID string `json:"witnessId"`
	KeyType   string `json:"keyType"`
	KeyID     string `json:"keyId"`
	PublicKey string `json:"publicKey"` // base64 (std), 32 bytes
	Nonce     string `json:"nonce"`
	IssuedAt  string `json:"issuedAt"` // RFC 3339, the challenge's
}

// Canonical is the RFC 8785 JSON the signature is over.
func (s PossessionStatement) Canonical() []byte {
	b, err := canonicalJSON(s)
	if err != nil {
		panic(err) // plain strings always encode
	}
	return b
}

// Possession is a signed PossessionStatement.
type Possession struct {
	Statement PossessionStatement `json:"statement"`
	Signature string              `json:"signature"` // base64 (std) ed25519 over Statement.Canonical()
}

// ProvePossession answers a challenge with the private key.
func ProvePossession(c KeyChallenge, priv ed25519.PrivateKey) Possession {
	pub := priv.Public().(ed25519.PublicKey)
	st := PossessionStatement{Type: PossessionType, WitnessID: c.WitnessID, KeyType: KeyEd25519, KeyID: KeyID(pub),
		PublicKey: base64.StdEncoding.EncodeToString(pub), Nonce: c.Nonce, IssuedAt: c.IssuedAt.UTC().Format(time.RFC3339Nano)}
	return Possession{Statement: st, Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, st.Canonical()))}
}

// String is the proof as `guildhall prove-key` prints it and the account page
// reads it.
func (p Possession) String() string {
	b, _ := json.Marshal(p)
	return possessionPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ParsePossession reads a proof as String writes it.
func ParsePossession(s string) (Possession, error) {
	var p Possession
	if err := decodeText(s, possessionPrefix, &p); err != nil {
		return p, fmt.Errorf("not a key proof (it starts with %s, as `guildhall prove-key` prints it): %w", possessionPrefix, err)
	}
	return p, nil
}

// Verify checks the proof on its own: the statement's form, that the key id
// names the public key, and that the key signed the statement. It returns the
// public key. Whether the challenge is fresh, unused and for this person is the
// Ops DB's check (store.AddProvenKey).
func (p Possession) Verify() (ed25519.PublicKey, error) {
	st := p.Statement
	switch {
	case st.Type != PossessionType:
		return nil, fmt.Errorf("the proof is a %q, not a %s", st.Type, PossessionType)
	case st.KeyType != KeyEd25519:
		return nil, fmt.Errorf("key type %q: only ed25519 keys are proven this way (passkeys register on the account page)", st.KeyType)
	case st.WitnessID == "" || st.Nonce == "":
		return nil, errors.New("the proof names no witness or no challenge")
	}
	if _, err := time.Parse(time.RFC3339Nano, st.IssuedAt); err != nil {
		return nil, errors.New("the proof's issuedAt is not a time")
	}
	raw, err := base64.StdEncoding.DecodeString(st.PublicKey)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("the proof's publicKey is not the base64 of a 32-byte ed25519 key")
	}
	pub := ed25519.PublicKey(raw)
	if KeyID(pub) != st.KeyID {
		return nil, fmt.Errorf("the proof's keyId %s does not name its public key (%s)", st.KeyID, KeyID(pub))
	}
	sig, err := base64.StdEncoding.DecodeString(p.Signature)
	if err != nil || !ed25519.Verify(pub, st.Canonical(), sig) {
		return nil, errors.New("the proof's signature was not made by the key it names: sign the challenge with that key's private half")
	}
	return pub, nil
}

func decodeText(s, prefix string, v any) error {
	raw, ok := strings.CutPrefix(strings.Join(strings.Fields(s), ""), prefix)
	if !ok {
		return errors.New("wrong prefix")
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return errors.New("not base64url")
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
