package workflows_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/guildhouse/guildhall/contract"
)

// attestations records what the workflow asks the write-back activity to write.
type attestations struct {
	mu     sync.Mutex
	writes []contract.Attestation
	gone   bool // answer Gone, as for a deleted Ceremony
}

func (a *attestations) register(h *harness) {
	h.env.RegisterActivityWithOptions(func(_ context.Context, in contract.Attestation) (contract.AttestationResult, error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.writes = append(a.writes, in)
		return contract.AttestationResult{Namespace: "test", Name: "rel-1", Created: len(a.writes) == 1, Gone: a.gone}, nil
	}, activity.RegisterOptions{Name: contract.ActivityWriteAttestation})
}

// events lists every Event written, as "Reason Key: Message".
func (a *attestations) events() []string {
	var out []string
	for _, w := range a.writes {
		for _, e := range w.Events {
			out = append(out, fmt.Sprintf("%s %s: %s", e.Reason, e.Key, e.Message))
		}
	}
	return out
}

func clusterSpec() contract.Spec {
	s := testSpec()
	s.Source, s.Generation = contract.SourceCluster, 1
	return s
}

// TestLiveAttestation: a cluster ceremony's attestation is written at opening and
// after each change, in order, with one Event per outcome; results are recorded
// on the custody chain.
func TestLiveAttestation(t *testing.T) {
	h := newHarness(t)
	att := &attestations{}
	att.register(h)
	if err := h.env.SetMemoOnStart(map[string]any{contract.MemoResourceUID: "uid-1"}); err != nil {
		t.Fatal(err)
	}
	spec := clusterSpec()
	g2 := spec
	g2.Witnesses = append(slices.Clone(spec.Witnesses), contract.WitnessRef{ID: "dave", Role: "legal"})
	g3 := g2
	g3.Deadline = time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC) // already past
	var e1, e2 error
	h.sign(time.Minute, "alice", contract.Approve, "a1", &e1)
	h.signal(2*time.Minute, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s2", Generation: 2, Spec: g2})
	h.signal(3*time.Minute, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s3", Generation: 3, Spec: g3})
	h.signal(4*time.Minute, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s3", Generation: 3, Spec: g3}) // a repeat
	h.sign(5*time.Minute, "bob", contract.Approve, "b1", &e2)
	h.signal(6*time.Minute, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d1", Phase: "Sealed"})
	h.env.ExecuteWorkflow(contract.WorkflowType, spec)
	if e1 != nil || e2 != nil {
		t.Fatalf("signing: %v %v", e1, e2)
	}
	if st := h.state(); st.Status != contract.StatusSealed {
		t.Fatalf("status %s", st.Status)
	}

	t.Logf("%d writes; events:\n  %s", len(att.writes), strings.Join(att.events(), "\n  "))
	first, last := att.writes[0], att.writes[len(att.writes)-1]
	if !first.Live || first.Outcome != contract.StatusCollecting || first.ResourceUID != "uid-1" || first.Needed != 2 ||
		strings.Join(first.Pending, ",") != "alice,bob,carol" || !first.Deadline.Equal(spec.Deadline) || first.ChainHead != "" {
		t.Fatalf("first write = %+v", first)
	}
	if last.Outcome != contract.StatusSealed || last.Generation != 2 || last.Approvals != 2 || last.ChainHead == "" || len(last.Signatures) != 2 {
		t.Fatalf("last write = %+v", last)
	}
	// The refused generation stays on the resource while it is the newest.
	if r := last.Refused; r == nil || r.Generation != 3 || r.Reason != contract.EventSpecRefused || !strings.Contains(r.Message, "in the past") {
		t.Fatalf("last write's refusal = %+v", r)
	}
	// Writes follow the ceremony: generations and approvals never go back.
	for i := 1; i < len(att.writes); i++ {
		p, w := att.writes[i-1], att.writes[i]
		if w.Generation < p.Generation || w.Approvals < p.Approvals {
			t.Errorf("write %d went back: %+v after %+v", i, w, p)
		}
	}
	want := []string{
		contract.EventCeremonyOpened + " opened: Workflow ceremony/test/rel-1 opened generation 1: needs 2 approvals by 2030-01-01T00:00:00Z; waiting for alice, bob, carol",
		contract.EventSpecAccepted + " spec/2: Generation 2 accepted: witness added: dave",
		contract.EventSpecRefused + " refused-message/1: Generation 3 refused by the workflow: invalid spec: deadline: deadline 2029-01-01T00:00:00Z is in the past; it keeps generation 2",
		contract.EventAttested + " status/1: Ceremony quorum reached at generation 2 with 2 of 2 approvals and 0 rejections; waiting for the substrate",
		contract.EventAttested + " status/2: Ceremony sealed at generation 2 with 2 of 2 approvals and 0 rejections: sealed by the substrate",
	}
	got := att.events()
	if len(got) != len(want) {
		t.Fatalf("events:\n  %s\nwant %d", strings.Join(got, "\n  "), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("event %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
	custody, err := h.store.CeremonyCustody(context.Background(), spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range custody {
		if e.Type == "attestation.written" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d attestation.written custody events, want 2 (quorum reached, sealed)", n)
	}
}

// TestLiveAttestationGone: a Ceremony deleted while collecting is cancelled; the
// write-back finds it gone, which ends the ceremony normally with nothing on the
// custody chain about an attestation.
func TestLiveAttestationGone(t *testing.T) {
	h := newHarness(t)
	att := &attestations{gone: true}
	att.register(h)
	h.signal(time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "c1", By: "watcher", Reason: "resource deleted"})
	h.env.ExecuteWorkflow(contract.WorkflowType, clusterSpec())
	if st := h.state(); st.Status != contract.StatusCancelled {
		t.Fatalf("status %s", st.Status)
	}
	custody, err := h.store.CeremonyCustody(context.Background(), "test/rel-1")
	if err != nil || len(custody) == 0 {
		t.Fatalf("custody: %d events, %v", len(custody), err)
	}
	for _, e := range custody {
		if e.Type == "attestation.written" {
			t.Errorf("an attestation of a deleted Ceremony on the chain: %+v", e)
		}
	}
	if len(att.writes) == 0 {
		t.Fatal("nothing written")
	}
}

// TestNoLiveAttestationOutsideTheCluster: ceremonies opened elsewhere have no
// resource; nothing is written for them.
func TestNoLiveAttestationOutsideTheCluster(t *testing.T) {
	h := newHarness(t)
	att := &attestations{}
	att.register(h)
	var e1, e2 error
	h.sign(time.Minute, "alice", contract.Approve, "a1", &e1)
	h.sign(2*time.Minute, "bob", contract.Approve, "b1", &e2)
	h.env.ExecuteWorkflow(contract.WorkflowType, testSpec())
	if len(att.writes) != 0 {
		t.Fatalf("%d writes for a ceremony opened outside the cluster", len(att.writes))
	}
}
