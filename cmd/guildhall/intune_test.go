package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

// guildhall intune status says, per ceremony, what was decided, how far
// carrying it out got and what the drift check found; it refuses a digest it
// has nothing for in plain words.
func TestIntuneStatusOutput(t *testing.T) {
	s := storetest.SQLite(t)
	ctx := context.Background()
	digest := "sha256:" + strings.Repeat("9a", 32)
	target := contract.IntuneTarget{AppID: "0177548a-548a-0177-8a54-77018a547701", OnRevoke: contract.IntuneRevokeUninstall,
		Groups: []contract.IntuneGroup{{GroupID: "11111111-2222-3333-4444-555555555555", Intent: contract.IntuneRequired}}}
	if _, err := s.RequestIntune(ctx, store.IntuneRequest{CeremonyID: "web/vpn", Digest: digest, Target: &target,
		Decision: contract.IntuneReleased, Cause: contract.IntuneCauseSealed, By: "substrate", Key: "k1", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.NoteIntuneError(ctx, "web/vpn", "graph list assignments: Graph is unavailable (503 Service Unavailable)", time.Now()); err != nil {
		t.Fatal(err)
	}
	drift, _ := json.Marshal([]map[string]string{{"text": "group 11111111-2222-3333-4444-555555555555: Intune has available; the ceremony decided required"}})
	if _, err := s.RecordIntuneCheck(ctx, store.IntuneCheck{CeremonyID: "web/vpn", Drift: drift, Key: "d1", At: time.Now(), Data: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	ds, err := deploymentsOf(ctx, s, digest)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printDeployments(&out, ds)
	for _, want := range []string{"web/vpn", "Intune app 0177548a-548a-0177-8a54-77018a547701 to the groups", "released (sealed by substrate",
		"pending (1 failed tries; retrying)", "503 Service Unavailable", "INTUNE DIFFERS", "Intune has available; the ceremony decided required"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := deploymentsOf(ctx, s, "sha256:"+strings.Repeat("00", 32)); err == nil || !strings.Contains(err.Error(), "none of its sealed ceremonies had an Intune target") {
		t.Errorf("unknown digest: %v", err)
	}
	if _, err := deploymentsOf(ctx, s, "vpn"); err == nil || !strings.Contains(err.Error(), "not an artifact digest") {
		t.Errorf("bad digest: %v", err)
	}
}
