package web

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/guildhouse/guildhall/store/storetest"
)

// A replica that still holds a SESSION_SECRET whose vouching key an operator
// retired refuses to start, saying which key, who retired it, why and what to
// do, without the secret; one with the new secret starts and registers its key.
func TestRetiredVouchingKeyStopsTheWeb(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	oldSecret, newSecret := strings.Repeat("o", 32), strings.Repeat("n", 32)
	start := func(secret string) error {
		_, err := New(Config{BaseURL: "http://localhost:4000", SessionSecret: []byte(secret)},
			Deps{Store: st, Ceremonies: newFake(st), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		return err
	}
	if err := start(oldSecret); err != nil {
		t.Fatal(err)
	}
	keys, err := st.WebKeys(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %+v %v", keys, err)
	}
	old := keys[0].KeyID
	if _, err := st.RetireWebKey(ctx, old, "cli:ops", "secret leaked, OPS-51"); err != nil {
		t.Fatal(err)
	}
	err = start(oldSecret)
	if err == nil {
		t.Fatal("a replica with the retired key's secret started")
	}
	msg := err.Error()
	for _, want := range []string{"this replica's vouching key " + old + " was retired by cli:ops at ", "(secret leaked, OPS-51)",
		"SESSION_SECRET is the old one; set the new secret"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, oldSecret) || strings.Contains(msg, "goroutine") {
		t.Errorf("message %q names the secret or has a stack trace", msg)
	}
	if err := start(newSecret); err != nil {
		t.Fatalf("a replica with the new secret: %v", err)
	}
	if keys, _ := st.WebKeys(ctx); len(keys) != 1 || keys[0].KeyID == old {
		t.Fatalf("trusted keys after the new secret: %+v", keys)
	}
}
