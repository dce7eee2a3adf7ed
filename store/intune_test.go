package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

var target = contract.IntuneTarget{AppID: "0177548a-548a-0177-8a54-77018a547701", OnRevoke: contract.IntuneRevokeRemove,
	Groups: []contract.IntuneGroup{{GroupID: "11111111-2222-3333-4444-555555555555", Intent: contract.IntuneRequired}}}

// A deployment is created by its first request, every step is a custody event
// of its ceremony, repeats change nothing, and the lease keeps two carry-outs
// of one deployment apart.
func TestIntuneDeploymentLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		id := "default/intune"
		digest := artifactIn(t, s, id, store.ArtifactReleased)
		if _, err := s.RequestIntune(ctx, store.IntuneRequest{CeremonyID: id, Decision: contract.IntuneReleased, Key: "k0", At: t0}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("request without a target or a row: %v, want ErrNotFound", err)
		}
		req := store.IntuneRequest{CeremonyID: id, Digest: digest, Target: &target, Decision: contract.IntuneReleased,
			Cause: contract.IntuneCauseSealed, By: "substrate", Key: "intune/req/1", At: t0}
		d, err := s.RequestIntune(ctx, req)
		if err != nil || d.State != store.IntunePending || d.Decision != "released" || d.AppID != target.AppID {
			t.Fatalf("first request: %+v %v", d, err)
		}
		tg, err := d.IntuneTarget()
		if err != nil || tg.Groups[0].GroupID != target.Groups[0].GroupID {
			t.Fatalf("target round trip: %+v %v", tg, err)
		}

		if _, err := s.ClaimIntune(ctx, id, "run-a", t0, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ClaimIntune(ctx, id, "run-b", t0.Add(time.Second), t0.Add(time.Minute)); !errors.Is(err, store.ErrIntuneBusy) {
			t.Fatalf("second claim while held: %v, want ErrIntuneBusy", err)
		}
		if _, err := s.ClaimIntune(ctx, id, "run-b", t0.Add(2*time.Minute), t0.Add(3*time.Minute)); err != nil {
			t.Fatalf("claim after the lease expired: %v", err)
		}
		if err := s.ReleaseIntune(ctx, id, "run-a"); err != nil { // not the holder: nothing happens
			t.Fatal(err)
		}
		if _, err := s.ClaimIntune(ctx, id, "run-a", t0.Add(2*time.Minute), t0.Add(3*time.Minute)); !errors.Is(err, store.ErrIntuneBusy) {
			t.Fatalf("a stale owner's release freed the lease: %v", err)
		}
		if err := s.ReleaseIntune(ctx, id, "run-b"); err != nil {
			t.Fatal(err)
		}

		fail := store.IntuneResult{CeremonyID: id, Decision: contract.IntuneReleased, Type: custody.TypeIntuneFailed, State: store.IntunePending,
			Error: "graph unavailable", Data: map[string]any{"error": "graph unavailable"}, Key: "intune/try/1", At: t0.Add(time.Minute)}
		for range 2 {
			if err := s.RecordIntune(ctx, fail); err != nil {
				t.Fatal(err)
			}
		}
		if d, _ = s.GetIntuneDeployment(ctx, id); d.Attempts != 1 || d.LastError != "graph unavailable" {
			t.Fatalf("after a failed try (recorded twice): %+v", d)
		}
		// The first request again (a retried activity): no second event, and
		// the row keeps the failed try (a new request would reset it).
		if d, err = s.RequestIntune(ctx, req); err != nil || d.Attempts != 1 || d.LastError != "graph unavailable" || !d.RequestedAt.Equal(t0) {
			t.Fatalf("the request repeated: %+v %v", d, err)
		}
		if n := eventsOf(t, s, id)[custody.TypeIntuneRequested]; n != 1 {
			t.Fatalf("the request repeated: %d intune.requested events, want 1", n)
		}
		if at, _ := s.IntuneAttention(ctx, 1, 10); len(at) != 1 {
			t.Fatalf("pending after a failed try is not attention at 1 attempt: %d", len(at))
		}
		ok := store.IntuneResult{CeremonyID: id, Decision: contract.IntuneReleased, Type: custody.TypeIntuneApplied, State: store.IntuneApplied,
			Managed: json.RawMessage(`[{"id":"x"}]`), Data: map[string]any{"changes": 1}, Key: "intune/try/2", At: t0.Add(2 * time.Minute)}
		if err := s.RecordIntune(ctx, ok); err != nil {
			t.Fatal(err)
		}
		if d, _ = s.GetIntuneDeployment(ctx, id); d.State != store.IntuneApplied || d.Attempts != 0 || d.LastError != "" || d.AppliedAt == nil || d.Managed != `[{"id":"x"}]` {
			t.Fatalf("after success: %+v", d)
		}

		// Drift: recorded on the chain only when the finding changes.
		check := func(drift, errText, key string) bool {
			t.Helper()
			changed, err := s.RecordIntuneCheck(ctx, store.IntuneCheck{CeremonyID: id, Drift: json.RawMessage(drift), Error: errText,
				Data: map[string]any{"drift": json.RawMessage(drift)}, Key: key, At: t0.Add(3 * time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			return changed
		}
		if check("[]", "", "d1") || !check(`[{"kind":"intent"}]`, "", "d2") || check(`[{"kind":"intent"}]`, "", "d3") || !check("[]", "", "d4") {
			t.Fatal("drift recorded when unchanged, or not when changed")
		}
		if !check("[]", "app gone", "d5") {
			t.Fatal("a check error appearing is not recorded")
		}
		if d, _ = s.GetIntuneDeployment(ctx, id); !d.Drifted() {
			t.Fatalf("a check error is not drift: %+v", d)
		}

		// The revocation: the decision moves, the row stays.
		if _, err := s.TransitionArtifact(ctx, store.Transition{Digest: digest, To: store.ArtifactRevoked, Actor: "chronicle", At: t0.Add(4 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if d, err = s.RequestIntune(ctx, store.IntuneRequest{CeremonyID: id, Decision: contract.IntuneRevoked, Cause: contract.IntuneCauseRevoked,
			By: "chronicle", Key: "intune/req/2", At: t0.Add(5 * time.Minute)}); err != nil || d.Decision != "revoked" || d.State != store.IntunePending {
			t.Fatalf("revocation request: %+v %v", d, err)
		}
		refs, err := s.ListIntuneDeployments(ctx)
		if err != nil || len(refs) != 1 || refs[0].ArtifactState != store.ArtifactRevoked || refs[0].Decision != contract.IntuneRevoked {
			t.Fatalf("list: %+v %v", refs, err)
		}
		if ds, err := s.IntuneDeploymentsOf(ctx, digest); err != nil || len(ds) != 1 {
			t.Fatalf("of artifact: %d %v", len(ds), err)
		}
		if types := eventsOf(t, s, id); types[custody.TypeIntuneRequested] != 2 || types[custody.TypeIntuneFailed] != 1 || types[custody.TypeIntuneApplied] != 1 || types[custody.TypeIntuneDrift] != 3 {
			t.Fatalf("custody events of the ceremony: %v", types)
		}
		if _, err := s.VerifyChain(ctx, store.VerifyOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

// eventsOf counts a ceremony's custody events by type.
func eventsOf(t *testing.T, s *store.Store, ceremonyID string) map[string]int {
	t.Helper()
	events, err := s.CeremonyCustody(context.Background(), ceremonyID)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, e := range events {
		types[e.Type]++
	}
	return types
}

// A deployment carries out the release until the artifact is revoked.
func TestIntuneDecisionFor(t *testing.T) {
	for state, want := range map[string]contract.IntuneDecision{
		store.ArtifactProposed: contract.IntuneReleased, store.ArtifactAttested: contract.IntuneReleased,
		store.ArtifactReleased: contract.IntuneReleased, store.ArtifactRevoked: contract.IntuneRevoked,
	} {
		if got := store.IntuneDecisionFor(state); got != want {
			t.Errorf("IntuneDecisionFor(%q) = %s, want %s", state, got, want)
		}
	}
}
