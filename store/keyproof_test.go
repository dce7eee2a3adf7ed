package store_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

// A key registers only with a fresh proof of possession, made for the person
// registering it, and never for a second person (issue 17, finding 3).
func TestKeyRegistrationNeedsProofOfPossession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for _, id := range []string{"alice", "mallory"} {
			if err := s.EnsureWitness(ctx, store.NewPerson{ID: id, DisplayName: id}, "test"); err != nil {
				t.Fatal(err)
			}
		}
		_, alicePriv, _ := ed25519.GenerateKey(rand.Reader)
		alicePub := alicePriv.Public().(ed25519.PublicKey)
		k := statement.NewPublicKey("alice", alicePub)

		// The old way, a bare public key: refused for anyone.
		err := s.AddCredential(ctx, "mallory", store.Credential{Type: k.Type, KeyID: k.KeyID, PublicKey: k.PublicKey})
		var kpe *store.KeyProofError
		if !errors.As(err, &kpe) {
			t.Fatalf("a bare ed25519 key was registered: %v", err)
		}

		// Alice proves her key and registers it.
		storetest.AddKey(t, s, "alice", alicePriv)

		// Mallory cannot have it: not with a proof of her own (she lacks the
		// private key: her signature is not the key's), not with Alice's proof
		// replayed, and not by answering her own challenge with Alice's proof.
		mc, err := s.NewKeyChallenge(ctx, "mallory")
		if err != nil {
			t.Fatal(err)
		}
		_, malloryPriv, _ := ed25519.GenerateKey(rand.Reader)
		forged := statement.ProvePossession(mc, malloryPriv)
		forged.Statement.PublicKey, forged.Statement.KeyID = k.PublicKey, k.KeyID
		if _, err := s.AddProvenKey(ctx, "mallory", forged, "", "mallory"); !errors.As(err, &kpe) {
			t.Fatalf("a proof not signed by the key: %v", err)
		}
		ac, _ := s.NewKeyChallenge(ctx, "alice")
		aliceProof := statement.ProvePossession(ac, alicePriv)
		if _, err := s.AddProvenKey(ctx, "mallory", aliceProof, "", "mallory"); !errors.As(err, &kpe) || !strings.Contains(kpe.Reason, "made for alice") {
			t.Fatalf("Alice's proof used by Mallory: %v", err)
		}
		// Even Alice signing a challenge issued to Mallory (tricked into it) does
		// not give Mallory a key another person holds.
		tricked := statement.ProvePossession(mc, alicePriv)
		if _, err := s.AddProvenKey(ctx, "mallory", tricked, "", "mallory"); !errors.Is(err, store.ErrKeyTaken) {
			t.Fatalf("another person's key: %v", err)
		}

		// A challenge is used once, and must be one issued here.
		_, priv2, _ := ed25519.GenerateKey(rand.Reader)
		c2, _ := s.NewKeyChallenge(ctx, "alice")
		p2 := statement.ProvePossession(c2, priv2)
		if _, err := s.AddProvenKey(ctx, "alice", p2, "second", "alice"); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveCredential(ctx, "alice", p2.Statement.KeyID, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddProvenKey(ctx, "alice", p2, "again", "alice"); !errors.As(err, &kpe) || !strings.Contains(kpe.Reason, "used already") {
			t.Fatalf("a replayed proof: %v", err)
		}
		made := statement.ProvePossession(statement.KeyChallenge{WitnessID: "alice", Nonce: "made-up", IssuedAt: time.Now()}, priv2)
		if _, err := s.AddProvenKey(ctx, "alice", made, "", "alice"); !errors.As(err, &kpe) || !strings.Contains(kpe.Reason, "no challenge") {
			t.Fatalf("a self-made challenge: %v", err)
		}
		// An expired challenge.
		c3, _ := s.NewKeyChallenge(ctx, "alice")
		if _, err := s.DB.NewUpdate().Table("key_challenges").Set("expires_at = ?", time.Now().Add(-time.Minute).UTC()).
			Where("nonce = ?", c3.Nonce).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddProvenKey(ctx, "alice", statement.ProvePossession(c3, priv2), "", "alice"); !errors.As(err, &kpe) || !strings.Contains(kpe.Reason, "expired") {
			t.Fatalf("an expired challenge: %v", err)
		}
		// Registered again after its removal, with a new proof: a new link.
		c4, _ := s.NewKeyChallenge(ctx, "alice")
		if _, err := s.AddProvenKey(ctx, "alice", statement.ProvePossession(c4, priv2), "back", "alice"); err != nil {
			t.Fatal(err)
		}
		var registered []string
		_ = s.WalkChain(ctx, 100, func(e store.CustodyEvent) error {
			if e.Type == custody.TypeKeyRegistered {
				registered = append(registered, e.Body)
			}
			return nil
		})
		if len(registered) != 3 || !strings.Contains(registered[0], statement.PossessionType) {
			t.Fatalf("want 3 registrations, each with its proof, got %d: %v", len(registered), registered)
		}
		keys, _ := s.WitnessKeys(ctx, []string{"alice", "mallory"})
		if len(keys) != 2 || keys[0].WitnessID != "alice" || keys[1].WitnessID != "alice" {
			t.Fatalf("keys = %+v", keys)
		}

		// A passkey another person registered is refused too.
		pk := store.Credential{Type: "webauthn", KeyID: "cred-1", PublicKey: "cGFzc2tleQ=="}
		if err := s.AddCredential(ctx, "alice", pk); err != nil {
			t.Fatal(err)
		}
		if err := s.AddCredential(ctx, "mallory", pk); !errors.Is(err, store.ErrKeyTaken) {
			t.Fatalf("another person's passkey: %v", err)
		}
		samID := pk
		samID.PublicKey = "b3RoZXI="
		if err := s.AddCredential(ctx, "mallory", samID); !errors.Is(err, store.ErrKeyTaken) {
			t.Fatalf("another person's passkey credential id: %v", err)
		}

		// A passkey's sign counter changes that key only: nothing added, and
		// nothing registered by then lost.
		before, _ := s.GetWitness(ctx, "alice")
		if err := s.RecordSignCount(ctx, "alice", pk.KeyID, 7); err != nil {
			t.Fatal(err)
		}
		after, _ := s.GetWitness(ctx, "alice")
		if len(after.Credentials) != len(before.Credentials) || after.Credentials[len(after.Credentials)-1].SignCount != 7 {
			t.Fatalf("keys after a sign count: %+v", after.Credentials)
		}
		if err := s.RecordSignCount(ctx, "mallory", pk.KeyID, 8); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a sign count for a passkey mallory does not hold: %v", err)
		}
	})
}
