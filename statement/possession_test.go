package statement

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"
)

func TestPossessionProof(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	c := KeyChallenge{WitnessID: "alice@example.org", Nonce: "n-1", IssuedAt: time.Date(2026, 12, 1, 10, 0, 0, 123, time.UTC)}
	got, err := ParseKeyChallenge(c.String())
	if err != nil || got.WitnessID != c.WitnessID || got.Nonce != c.Nonce || !got.IssuedAt.Equal(c.IssuedAt) {
		t.Fatalf("challenge round trip: %+v %v", got, err)
	}
	p := ProvePossession(c, priv)
	back, err := ParsePossession(p.String())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := back.Verify()
	if err != nil || !pub.Equal(priv.Public()) {
		t.Fatalf("a genuine proof: %v", err)
	}
	// Line breaks from copying are harmless.
	s := p.String()
	if _, err := ParsePossession(s[:20] + "\n  " + s[20:]); err != nil {
		t.Fatalf("a wrapped proof: %v", err)
	}

	// Someone else's public key with their own signature: refused.
	stolen := ProvePossession(c, other)
	stolen.Statement.PublicKey, stolen.Statement.KeyID = p.Statement.PublicKey, p.Statement.KeyID
	for name, bad := range map[string]Possession{
		"signed by another key": stolen,
		"witness changed":       func() Possession { q := p; q.Statement.WitnessID = "mallory@example.org"; return q }(),
		"nonce changed":         func() Possession { q := p; q.Statement.Nonce = "n-2"; return q }(),
		"key id of another key": func() Possession { q := p; q.Statement.KeyID = KeyID(other.Public().(ed25519.PublicKey)); return q }(),
		"wrong type":            func() Possession { q := p; q.Statement.Type = "something"; return q }(),
	} {
		if _, err := bad.Verify(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, s := range []string{"", "ghp1.", "ghp1.!!!", "ghc1." + strings.Repeat("A", 10), p.String()[5:]} {
		if _, err := ParsePossession(s); err == nil {
			t.Errorf("ParsePossession(%q) accepted", s)
		}
	}
	if _, err := ParseKeyChallenge(p.String()); err == nil {
		t.Error("a proof read as a challenge")
	}
}
