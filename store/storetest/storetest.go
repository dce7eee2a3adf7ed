// Package storetest opens migrated Ops DBs for tests: a fresh Postgres database
// on the machine's server and an embedded SQLite file, so store behaviour is
// checked on both dialects.
package storetest

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"testing"

	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
)

// Postgres returns a migrated store on a fresh Postgres database, dropped when
// the test ends.
func Postgres(t testing.TB) *store.Store {
	t.Helper()
	ctx := context.Background()
	db, err := testenv.CreateDatabase(ctx, "guildhall_test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Drop(context.Background()) })
	return open(t, db.URL)
}

// SQLite returns a migrated store on a new embedded database file.
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	return open(t, "sqlite:"+filepath.Join(t.TempDir(), "ops.db"))
}

func open(t testing.TB, url string) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{URL: url, PoolSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// Each runs fn once per dialect as a subtest.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
}

// AddKey registers priv's public key for witnessID the way a key holder does:
// it answers a challenge from the store with a proof of possession.
func AddKey(t testing.TB, s *store.Store, witnessID string, priv ed25519.PrivateKey) store.Credential {
	t.Helper()
	ctx := context.Background()
	c, err := s.NewKeyChallenge(ctx, witnessID)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := s.AddProvenKey(ctx, witnessID, statement.ProvePossession(c, priv), "", witnessID)
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// RemoveKeys unregisters every key witnessID holds, as the witness does on
// their account page.
func RemoveKeys(t testing.TB, s *store.Store, witnessID string) {
	t.Helper()
	w, err := s.GetWitness(context.Background(), witnessID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range w.Credentials {
		if err := s.RemoveCredential(context.Background(), witnessID, c.KeyID, witnessID); err != nil {
			t.Fatal(err)
		}
	}
}
