package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

var states = []string{store.ArtifactProposed, store.ArtifactAttested, store.ArtifactReleased, store.ArtifactRevoked}

// artifactIn opens a ceremony about a fresh artifact and walks it to state.
func artifactIn(t *testing.T, s *store.Store, id, state string) string {
	t.Helper()
	ctx := context.Background()
	sp := spec(id)
	sp.Artifact.Digest = digestOf(id)
	if err := s.RecordOpened(ctx, store.Opened{Spec: sp, WorkflowID: "ceremony/" + id, OpenedAt: t0}); err != nil {
		t.Fatal(err)
	}
	path := map[string][]string{
		store.ArtifactProposed: nil,
		store.ArtifactAttested: {store.ArtifactAttested},
		store.ArtifactReleased: {store.ArtifactAttested, store.ArtifactReleased},
		store.ArtifactRevoked:  {store.ArtifactRevoked},
	}[state]
	for _, to := range path {
		if _, err := s.TransitionArtifact(ctx, store.Transition{Digest: sp.Artifact.Digest, To: to, Actor: "test", At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	return sp.Artifact.Digest
}

func digestOf(id string) string {
	h := []byte(strings.Repeat("0", 64))
	for i, c := range []byte(id) {
		h[63-i%64] = "0123456789abcdef"[int(c)%16]
	}
	return "sha256:" + string(h)
}

func TestArtifactLifecycleIsEnforced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		n := 0
		for _, from := range states {
			for _, to := range states {
				n++
				id := "default/a" + string(rune('a'+n))
				digest := artifactIn(t, s, id, from)
				before, _ := s.ArtifactCustody(ctx, digest, 100)
				a, err := s.TransitionArtifact(ctx, store.Transition{Digest: digest, To: to, Actor: "operator", Reason: "test", At: t0.Add(time.Minute)})
				after, _ := s.ArtifactCustody(ctx, digest, 100)
				switch {
				case from == to:
					if err != nil || a.State != to || len(after) != len(before) {
						t.Errorf("%s → %s (same state): %v, %d new events; want a no-op", from, to, err, len(after)-len(before))
					}
				case store.LegalTransition(from, to):
					if err != nil || a.State != to {
						t.Errorf("%s → %s: %v, want it allowed", from, to, err)
						continue
					}
					last := after[len(after)-1]
					if len(after) != len(before)+1 || last.Type != custody.TypeArtifactState ||
						!strings.Contains(last.Body, `"from":"`+from+`"`) || !strings.Contains(last.Body, `"to":"`+to+`"`) {
						t.Errorf("%s → %s left no custody event: %+v", from, to, last)
					}
				default:
					if !errors.Is(err, store.ErrIllegalTransition) || !strings.Contains(err.Error(), from+" and cannot become "+to) {
						t.Errorf("%s → %s: err = %v, want ErrIllegalTransition naming both states", from, to, err)
					}
					if got, _ := s.GetArtifact(ctx, digest); got.State != from || len(after) != len(before) {
						t.Errorf("%s → %s was refused but changed something: %s, %d events", from, to, got.State, len(after)-len(before))
					}
					// The database refuses it from any other writer too.
					if _, err := s.DB.ExecContext(ctx, "UPDATE artifacts SET state = ? WHERE digest = ?", to, digest); err == nil {
						t.Errorf("%s → %s: the database accepted it", from, to)
					}
				}
			}
		}
		if _, err := s.TransitionArtifact(ctx, store.Transition{Digest: digestOf("nope"), To: store.ArtifactRevoked}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown artifact: %v", err)
		}
		if _, err := s.TransitionArtifact(ctx, store.Transition{Digest: digestOf("default/ab"), To: "published"}); !errors.Is(err, store.ErrIllegalTransition) {
			t.Fatalf("unknown state: %v", err)
		}
		if _, err := s.VerifyChain(ctx, store.VerifyOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCeremonyStatusMovesTheArtifact: quorum attests, sealing releases, each as a
// custody event of the ceremony; a later ceremony never moves it backwards and
// a revoked artifact stays revoked, without failing the status write.
func TestCeremonyStatusMovesTheArtifact(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		digest := artifactIn(t, s, "default/rel-1", store.ArtifactProposed)
		status := func(id string, st contract.Status, seq int) {
			t.Helper()
			if err := s.RecordStatus(ctx, id, store.StatusChange{Status: st, At: t0.Add(time.Duration(seq) * time.Minute), Seq: seq}); err != nil {
				t.Fatal(err)
			}
		}
		state := func() string { a, _ := s.GetArtifact(ctx, digest); return a.State }
		status("default/rel-1", contract.StatusQuorumReached, 1)
		if state() != store.ArtifactAttested {
			t.Fatalf("after quorum: %s", state())
		}
		status("default/rel-1", contract.StatusSealed, 2)
		status("default/rel-1", contract.StatusSealed, 2) // a retried activity
		if state() != store.ArtifactReleased {
			t.Fatalf("after sealing: %s", state())
		}
		events, _ := s.CeremonyCustody(ctx, "default/rel-1")
		var moves []string
		for _, e := range events {
			if e.Type == custody.TypeArtifactState {
				var b struct{ Data struct{ To string } }
				_ = json.Unmarshal([]byte(e.Body), &b)
				moves = append(moves, b.Data.To)
			}
		}
		if strings.Join(moves, ",") != "proposed,attested,released" {
			t.Fatalf("ceremony custody shows artifact moves %v", moves)
		}
		// A second ceremony about the released artifact reaches quorum: no move.
		sp := spec("default/rel-2")
		sp.Artifact.Digest = digest
		if err := s.RecordOpened(ctx, store.Opened{Spec: sp, WorkflowID: "w", OpenedAt: t0}); err != nil {
			t.Fatal(err)
		}
		status("default/rel-2", contract.StatusQuorumReached, 1)
		if state() != store.ArtifactReleased {
			t.Fatalf("a later quorum moved the artifact back to %s", state())
		}
		if _, err := s.TransitionArtifact(ctx, store.Transition{Digest: digest, To: store.ArtifactRevoked, Actor: "security", Reason: "CVE"}); err != nil {
			t.Fatal(err)
		}
		status("default/rel-2", contract.StatusSealed, 2)
		if state() != store.ArtifactRevoked {
			t.Fatalf("sealing un-revoked the artifact: %s", state())
		}
		if _, err := s.VerifyChain(ctx, store.VerifyOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCredentialsAndSignatureKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := s.EnsureWitness(ctx, store.NewPerson{ID: "alice", DisplayName: "Alice"}, "test"); err != nil {
			t.Fatal(err)
		}
		key := store.Credential{Type: "webauthn", KeyID: "cred-0011223344556677", PublicKey: "AAEC"}
		for range 2 { // registering the same key twice is one registration
			if err := s.AddCredential(ctx, "alice", key); err != nil {
				t.Fatal(err)
			}
		}
		other := key
		other.PublicKey = "BBBB"
		if err := s.AddCredential(ctx, "alice", other); err == nil {
			t.Fatal("a different key under the same id was accepted")
		}
		if err := s.AddCredential(ctx, "nobody", key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("key for an unknown witness: %v", err)
		}
		keys, err := s.WitnessKeys(ctx, []string{"alice", "bob"})
		if err != nil || len(keys) != 1 || keys[0].WitnessID != "alice" || keys[0].PublicKey != "AAEC" {
			t.Fatalf("WitnessKeys = %+v, %v", keys, err)
		}
		// A signature made with the key keeps a copy of it.
		if err := s.RecordOpened(ctx, store.Opened{Spec: spec("default/rel-1"), WorkflowID: "w", OpenedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordSignature(ctx, "default/rel-1", contract.Signature{
			WitnessID: "alice", Decision: contract.Approve, SignedAt: t0, IdempotencyKey: "k", Statement: "{}",
			Proof: &contract.Proof{Type: "webauthn", KeyID: key.KeyID, Signature: "c2ln"}}, store.Tally{Approvals: 1}); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveCredential(ctx, "alice", key.KeyID, "alice"); err != nil {
			t.Fatal(err)
		}
		if keys, _ := s.WitnessKeys(ctx, []string{"alice"}); len(keys) != 0 {
			t.Fatalf("key still registered after removal: %+v", keys)
		}
		sigs, _ := s.Signatures(ctx, "default/rel-1")
		if len(sigs) != 1 || sigs[0].KeyID != key.KeyID || sigs[0].PublicKey != "AAEC" {
			t.Fatalf("signature row = %+v", sigs)
		}
		var types []string
		_ = s.WalkChain(ctx, 100, func(e store.CustodyEvent) error { types = append(types, e.Type); return nil })
		got := strings.Join(types, " ")
		if strings.Count(got, custody.TypeKeyRegistered) != 1 || strings.Count(got, custody.TypeKeyRemoved) != 1 {
			t.Fatalf("custody types: %s", got)
		}
	})
}

// TestConcurrentArtifactWritersDoNotDeadlock: ceremonies reaching quorum and
// an operator revoking the same artifact at once all complete (every writer
// takes the chain lock before the artifact row).
func TestConcurrentArtifactWritersDoNotDeadlock(t *testing.T) {
	s := storetest.Postgres(t)
	ctx := context.Background()
	digest := digestOf("shared")
	for i := range 10 {
		sp := spec("default/c" + string(rune('a'+i)))
		sp.Artifact.Digest = digest
		if err := s.RecordOpened(ctx, store.Opened{Spec: sp, WorkflowID: "w", OpenedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 20)
	for i := range 10 {
		go func() {
			errs <- s.RecordStatus(ctx, "default/c"+string(rune('a'+i)), store.StatusChange{Status: contract.StatusSealed, At: t0, Seq: 1})
		}()
		go func() {
			_, err := s.TransitionArtifact(ctx, store.Transition{Digest: digest, To: store.ArtifactRevoked, Actor: "operator"})
			errs <- err
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if a, _ := s.GetArtifact(ctx, digest); a.State != store.ArtifactRevoked {
		t.Fatalf("artifact ended %s", a.State)
	}
	if _, err := s.VerifyChain(ctx, store.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}
