package activities

import (
	"context"
	"crypto/ed25519"
	"testing"

	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

func TestLoadSigningKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := &Activities{Store: s}
		for _, id := range []string{"alice", "bob"} {
			if err := s.EnsureWitness(ctx, store.NewPerson{ID: id, DisplayName: id}, "test"); err != nil {
				t.Fatal(err)
			}
		}
		priv := ed25519.NewKeyFromSeed(make([]byte, 32))
		k := statement.NewPublicKey("alice", priv.Public().(ed25519.PublicKey))
		storetest.AddKey(t, s, "alice", priv)
		if err := s.AddCredential(ctx, "bob", store.Credential{Type: "totp", KeyID: "t1", PublicKey: "x"}); err != nil {
			t.Fatal(err)
		}
		got, err := a.LoadSigningKeys(ctx, []string{"alice", "bob", "carol"})
		if err != nil || len(got) != 1 || got[0] != k {
			t.Fatalf("LoadSigningKeys = %+v, %v; want alice's key only", got, err)
		}
	})
}
