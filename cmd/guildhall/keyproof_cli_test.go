package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/web"
)

// Finding 3 of issue 17, on the command line: add-key registers a key only
// from its key file (which proves possession against a challenge from the Ops
// DB), refuses a bare public key and a key another person holds; prove-key
// answers the web's challenge offline. And `guildhall sessions` ends a
// person's sessions and tokens.
func TestAddKeyProvesPossessionAndSessionsEnd(t *testing.T) {
	dir := t.TempDir()
	useEnv(t, "DATABASE_URL", "sqlite:"+filepath.Join(dir, "ops.db"), "LOG_FORMAT", "text")
	ctx := context.Background()
	if _, _, err := runCLI(t, "", "migrate", "up"); err != nil {
		t.Fatal(err)
	}
	alicePath, malloryPath := filepath.Join(dir, "alice.json"), filepath.Join(dir, "mallory.json")
	out, _, err := runCLI(t, "", "keygen", "--witness", "alice@guildhouse.dev", "--out", alicePath)
	if err != nil || !strings.Contains(out, "guildhall witness add-key alice@guildhouse.dev "+alicePath) {
		t.Fatalf("keygen: %q %v", out, err)
	}
	if _, _, err := runCLI(t, "", "keygen", "--witness", "mallory@guildhouse.dev", "--out", malloryPath); err != nil {
		t.Fatal(err)
	}
	var kf statement.KeyFile
	raw, _ := os.ReadFile(alicePath)
	_ = json.Unmarshal(raw, &kf)

	// Mallory, with Alice's public key only (inline, or in a file): refused.
	pubFile := filepath.Join(dir, "alice.pub")
	if err := os.WriteFile(pubFile, []byte(kf.PublicKey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{kf.PublicKey, pubFile} {
		_, _, err := runCLI(t, "", "witness", "add-key", "mallory@guildhouse.dev", arg, "--create")
		if err == nil || !strings.Contains(err.Error(), "proof that its holder has the private key") {
			t.Fatalf("add-key with a public key only (%s): %v", arg, err)
		}
	}
	// Alice, with her key file: registered, the proof on the chain.
	out, _, err = runCLI(t, "", "witness", "add-key", "alice@guildhouse.dev", alicePath, "--create", "--label", "laptop")
	if err != nil || !strings.Contains(out, "possession proven") {
		t.Fatalf("add-key with the key file: %q %v", out, err)
	}
	// Mallory with a copy of Alice's key file: the key is Alice's.
	cp := filepath.Join(dir, "copy.json")
	raw = []byte(strings.Replace(string(raw), "alice@guildhouse.dev", "mallory@guildhouse.dev", 1))
	if err := os.WriteFile(cp, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "", "witness", "add-key", "mallory@guildhouse.dev", cp); err == nil || !errors.Is(err, store.ErrKeyTaken) {
		t.Fatalf("another person's key: %v", err)
	}

	s, err := store.Open(ctx, store.Options{URL: os.Getenv("DATABASE_URL")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// prove-key answers a challenge as the account page shows it.
	c, err := s.NewKeyChallenge(ctx, "mallory@guildhouse.dev")
	if err != nil {
		t.Fatal(err)
	}
	proof, stderr, err := runCLI(t, "", "prove-key", "--key", malloryPath, c.String())
	if err != nil || !strings.Contains(stderr, "paste it") {
		t.Fatalf("prove-key: %q %q %v", proof, stderr, err)
	}
	p, err := statement.ParsePossession(strings.TrimSpace(proof))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddProvenKey(ctx, "mallory@guildhouse.dev", p, "web", "mallory@guildhouse.dev"); err != nil {
		t.Fatalf("the proof prove-key printed: %v", err)
	}
	if _, _, err := runCLI(t, "", "prove-key", "--key", alicePath, c.String()); err == nil || !strings.Contains(err.Error(), "not mallory@guildhouse.dev") {
		t.Fatalf("prove-key with another person's key file: %v", err)
	}

	// sessions list / end.
	if _, err := web.IssueToken(ctx, s, []byte(strings.Repeat("s", 32)), "alice@guildhouse.dev", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := web.SessionCookie(ctx, s, []byte(strings.Repeat("s", 32)), "alice@guildhouse.dev", time.Hour); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, "", "sessions", "list", "alice@guildhouse.dev")
	if err != nil || !strings.Contains(out, "token") || !strings.Contains(out, "session") {
		t.Fatalf("sessions list: %q %v", out, err)
	}
	out, _, err = runCLI(t, "", "sessions", "end", "alice@guildhouse.dev", "--kind", "token")
	if err != nil || !strings.Contains(out, "ended 1 ") {
		t.Fatalf("sessions end --kind token: %q %v", out, err)
	}
	out, _, err = runCLI(t, "", "sessions", "end", "alice@guildhouse.dev")
	if err != nil || !strings.Contains(out, "ended 1 ") {
		t.Fatalf("sessions end: %q %v", out, err)
	}
	if live, _ := s.LiveWebSessions(ctx, "alice@guildhouse.dev", time.Now()); len(live) != 0 {
		t.Fatalf("still live: %+v", live)
	}
}
