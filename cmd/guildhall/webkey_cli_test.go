package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guildhouse/guildhall/store"
)

// `guildhall webkey` lists the web's vouching keys and retires one: a reason
// is required, an unknown key is named, a second retire changes nothing, and
// retiring the last trusted key is done but warned about.
func TestWebkeyListAndRetire(t *testing.T) {
	dir := t.TempDir()
	useEnv(t, "DATABASE_URL", "sqlite:"+filepath.Join(dir, "ops.db"), "LOG_FORMAT", "text")
	ctx := context.Background()
	if _, _, err := runCLI(t, "", "migrate", "up"); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, "", "webkey", "list")
	if err != nil || !strings.Contains(out, "no web vouching key") {
		t.Fatalf("list with no key: %q %v", out, err)
	}
	s, err := store.Open(ctx, store.Options{URL: os.Getenv("DATABASE_URL")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, k := range []string{"ed25519:0ld0ld0ld0ld0ld0", "ed25519:11ee11ee11ee11ee"} {
		if err := s.RegisterWebKey(ctx, k, "pub"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := runCLI(t, "", "webkey", "retire", "ed25519:0ld0ld0ld0ld0ld0"); err == nil || !strings.Contains(err.Error(), "reason is required") {
		t.Fatalf("retire without a reason: %v", err)
	}
	if _, _, err := runCLI(t, "", "webkey", "retire", "ed25519:nope", "--reason", "rotated"); err == nil || !strings.Contains(err.Error(), "no web vouching key ed25519:nope") {
		t.Fatalf("retire an unknown key: %v", err)
	}
	out, stderr, err := runCLI(t, "", "webkey", "retire", "ed25519:0ld0ld0ld0ld0ld0", "--reason", "SESSION_SECRET rotated, OPS-51")
	if err != nil || !strings.Contains(out, "retired web vouching key ed25519:0ld0ld0ld0ld0ld0") || stderr != "" {
		t.Fatalf("retire: %q %q %v", out, stderr, err)
	}
	out, _, err = runCLI(t, "", "webkey", "retire", "ed25519:0ld0ld0ld0ld0ld0", "--reason", "again")
	if err != nil || !strings.Contains(out, "already retired") {
		t.Fatalf("retire again: %q %v", out, err)
	}
	out, _, err = runCLI(t, "", "webkey", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 3 || !strings.HasPrefix(lines[0], "KEY ID") ||
		!strings.Contains(lines[1], "cli:") || !strings.Contains(lines[1], "SESSION_SECRET rotated, OPS-51") ||
		!strings.HasPrefix(lines[2], "ed25519:11ee11ee11ee11ee") || strings.Contains(lines[2], "cli:") {
		t.Fatalf("list: %q %v", out, err)
	}
	// The last trusted key: retired, with a warning on what that means.
	out, stderr, err = runCLI(t, "", "webkey", "retire", "ed25519:11ee11ee11ee11ee", "--reason", "leaked")
	if err != nil || !strings.Contains(out, "retired web vouching key") || !strings.Contains(stderr, "count as operator") {
		t.Fatalf("retire the last key: %q %q %v", out, stderr, err)
	}
	if keys, _ := s.WebKeys(ctx); len(keys) != 0 {
		t.Fatalf("still trusted: %+v", keys)
	}
}
