package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

// chainTypes counts the custody events of each type.
func chainTypes(t *testing.T, s *store.Store) map[string]int {
	t.Helper()
	n := map[string]int{}
	if err := s.WalkChain(context.Background(), 50, func(e store.CustodyEvent) error { n[e.Type]++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// A retired web key leaves the keys the workflows trust, stays listed, is on
// the chain once however often it is retired, and is never trusted again:
// registering it once more (a replica with the old SESSION_SECRET) is refused,
// saying by whom, when and why.
func TestRetireWebKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for _, k := range []string{"ed25519:old", "ed25519:new"} {
			if err := s.RegisterWebKey(ctx, k, "pub-"+k); err != nil {
				t.Fatal(err)
			}
		}
		// A reason is required and bounded; an unknown key is not found.
		for _, r := range []string{"", "  ", strings.Repeat("r", rules.MaxReason+1)} {
			if _, err := s.RetireWebKey(ctx, "ed25519:old", "cli:ops", r); err == nil {
				t.Fatalf("reason %q accepted", r)
			}
		}
		if _, err := s.RetireWebKey(ctx, "ed25519:nope", "cli:ops", "rotated"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown key: %v, want ErrNotFound", err)
		}
		for i, want := range []bool{true, false} {
			retired, err := s.RetireWebKey(ctx, "ed25519:old", "cli:ops", "SESSION_SECRET leaked, OPS-51")
			if err != nil || retired != want {
				t.Fatalf("retire %d: %v %v, want %v", i+1, retired, err, want)
			}
		}
		trusted, err := s.WebKeys(ctx)
		if err != nil || len(trusted) != 1 || trusted[0].KeyID != "ed25519:new" {
			t.Fatalf("trusted keys: %+v %v", trusted, err)
		}
		all, err := s.AllWebKeys(ctx)
		if err != nil || len(all) != 2 {
			t.Fatalf("all keys: %+v %v", all, err)
		}
		old := all[0]
		if old.KeyID != "ed25519:old" || !old.Retired() || old.RetiredBy != "cli:ops" || old.RetireReason != "SESSION_SECRET leaked, OPS-51" || all[1].Retired() {
			t.Fatalf("listed: %+v", all)
		}
		n := chainTypes(t, s)
		if n[custody.TypeWebKeyRetired] != 1 || n[custody.TypeWebKeyRegistered] != 2 {
			t.Fatalf("chain: %v", n)
		}
		// Registering the retired key again does not un-retire it.
		err = s.RegisterWebKey(ctx, "ed25519:old", "pub-ed25519:old")
		var r *store.WebKeyRetiredError
		if !errors.Is(err, store.ErrWebKeyRetired) || !errors.As(err, &r) || r.Key.RetiredBy != "cli:ops" ||
			!strings.Contains(err.Error(), "retired by cli:ops") || !strings.Contains(err.Error(), "OPS-51") {
			t.Fatalf("register a retired key: %v", err)
		}
		if trusted, _ := s.WebKeys(ctx); len(trusted) != 1 {
			t.Fatalf("trusted after registering the retired key again: %+v", trusted)
		}
		// The live key registers again as before.
		if err := s.RegisterWebKey(ctx, "ed25519:new", "pub-ed25519:new"); err != nil {
			t.Fatal(err)
		}
		if n := chainTypes(t, s); n[custody.TypeWebKeyRetired] != 1 || n[custody.TypeWebKeyRegistered] != 2 {
			t.Fatalf("chain after registering again: %v", n)
		}
		verifyChain(t, s)
	})
}
