package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/notify"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/workflows"
)

func custodyTypes(t *testing.T, s *store.Store, id string) map[string]int {
	t.Helper()
	events, err := s.CeremonyCustody(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range events {
		out[e.Type]++
	}
	return out
}

func kinds(ms []notify.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Kind
	}
	return out
}

func vetoSpec() contract.Spec {
	s := testSpec()
	s.Quorum = contract.Quorum{Threshold: 2, Roles: map[string]int{"security": 1}, Veto: []string{"security"}}
	return s
}

func TestVetoRejects(t *testing.T) {
	h := newHarness(t)
	var e1, e2 error
	h.sign(time.Minute, "bob", contract.Approve, "k1", &e1)
	h.sign(2*time.Minute, "alice", contract.Reject, "k2", &e2)
	h.env.ExecuteWorkflow(contract.WorkflowType, vetoSpec())
	st := h.state()
	if e1 != nil || e2 != nil || st.Status != contract.StatusRejected || st.Reason != "vetoed by alice" {
		t.Fatalf("state %s %q (%v %v)", st.Status, st.Reason, e1, e2)
	}
	got := kinds(h.recorder.Sent())
	if strings.Join(got, ",") != "opened,outcome" {
		t.Fatalf("notifications = %v", got)
	}
	if ct := custodyTypes(t, h.store, st.CeremonyID); ct["notification.delivered"] != 2 || ct["signature.accepted"] != 2 {
		t.Fatalf("custody = %v", ct)
	}
}

func TestImpossibleQuorumClosesEarly(t *testing.T) {
	h := newHarness(t)
	var e1 error
	h.sign(time.Minute, "carol", contract.Reject, "k1", &e1)
	spec := testSpec()
	spec.Quorum = contract.Quorum{Threshold: 3}
	h.env.ExecuteWorkflow(contract.WorkflowType, spec)
	st := h.state()
	if st.Status != contract.StatusRejected || !strings.Contains(st.Reason, "quorum impossible") || !st.ClosedAt.Equal(time.Date(2029, 12, 1, 0, 1, 0, 0, time.UTC)) {
		t.Fatalf("state %s %q %v", st.Status, st.Reason, st.ClosedAt)
	}
}

func TestRemindersThenExpiry(t *testing.T) {
	h := newHarness(t)
	var e1 error
	spec := testSpec()
	spec.Deadline = time.Date(2029, 12, 11, 0, 0, 0, 0, time.UTC) // a ten-day window
	h.sign(time.Hour, "alice", contract.Approve, "k1", &e1)
	h.env.ExecuteWorkflow(contract.WorkflowType, spec)
	st := h.state()
	if st.Status != contract.StatusExpired || st.RemindersSent != 3 || !st.ClosedAt.Equal(spec.Deadline) {
		t.Fatalf("state %s reminders %d closed %v", st.Status, st.RemindersSent, st.ClosedAt)
	}
	sent := h.recorder.Sent()
	if strings.Join(kinds(sent), ",") != "opened,reminder,reminder,reminder,outcome" {
		t.Fatalf("notifications = %v", kinds(sent))
	}
	// Reminders go to those who have not signed, and say how far along it is.
	if r := sent[1]; len(r.To) != 2 || r.To[0].ID != "bob" || r.To[1].ID != "carol" || !strings.Contains(r.Text, "50%") {
		t.Fatalf("first reminder = %+v", r)
	}
	if !strings.Contains(sent[3].Text, "95%") {
		t.Fatalf("last reminder = %q", sent[3].Text)
	}
	if ct := custodyTypes(t, h.store, st.CeremonyID); ct["notification.delivered"] != 5 {
		t.Fatalf("custody = %v", ct)
	}
}

func TestDeadlineExtensionMovesTimers(t *testing.T) {
	h := newHarness(t)
	spec := testSpec()
	open := time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC)
	spec.Deadline = open.Add(100 * time.Hour)
	ext := spec
	ext.Deadline = open.Add(300 * time.Hour) // at hour 60: 50% fired; new ladder at 150h, 240h, 285h
	h.signal(60*time.Hour, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "g2", Generation: 2, Spec: ext})
	h.env.ExecuteWorkflow(contract.WorkflowType, spec)
	st := h.state()
	if st.Status != contract.StatusExpired || !st.ClosedAt.Equal(ext.Deadline) || st.Generation != 2 {
		t.Fatalf("state %s closed %v gen %d", st.Status, st.ClosedAt, st.Generation)
	}
	got := kinds(h.recorder.Sent())
	if strings.Join(got, ",") != "opened,reminder,amended,reminder,reminder,reminder,outcome" {
		t.Fatalf("notifications = %v", got)
	}
	if st.RemindersSent != 3 || len(st.Amendments) != 1 || !strings.Contains(st.Amendments[0].Changes[0], "deadline moved") {
		t.Fatalf("reminders %d amendments %+v", st.RemindersSent, st.Amendments)
	}
}

func TestAmendmentsKeepAddAndVoid(t *testing.T) {
	h := newHarness(t)
	var e1, e2, e3, e4 error
	spec := testSpec()
	spec.Quorum.Threshold = 3
	h.sign(time.Minute, "alice", contract.Approve, "k1", &e1)
	h.sign(2*time.Minute, "bob", contract.Approve, "k2", &e2)
	// Generation 2 adds dave: signatures kept.
	g2 := spec
	g2.Witnesses = append(append([]contract.WitnessRef{}, spec.Witnesses...), contract.WitnessRef{ID: "dave", Role: "legal"})
	h.signal(3*time.Minute, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s2", Generation: 2, Spec: g2})
	// A stale generation and a repeated key change nothing.
	h.signal(4*time.Minute, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s1", Generation: 1, Spec: spec})
	h.signal(5*time.Minute, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s2", Generation: 2, Spec: spec})
	// Generation 3 removes bob: his signature is voided, alice's kept.
	g3 := g2
	g3.Witnesses = []contract.WitnessRef{{ID: "alice", Role: "security"}, {ID: "carol", Role: "release"}, {ID: "dave", Role: "legal"}}
	h.signal(6*time.Minute, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s3", Generation: 3, Spec: g3})
	h.sign(7*time.Minute, "carol", contract.Approve, "k3", &e3)
	// Generation 4 changes the digest: everything is voided; alice signs again.
	g4 := g3
	g4.Artifact.Digest = "sha256:" + strings.Repeat("ab", 32)
	h.signal(8*time.Minute, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s4", Generation: 4, Spec: g4})
	h.sign(9*time.Minute, "alice", contract.Approve, "k4", &e4)
	h.signal(10*time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "c", By: "operator", Reason: "test over"})
	h.env.ExecuteWorkflow(contract.WorkflowType, spec)
	if e1 != nil || e2 != nil || e3 != nil || e4 != nil {
		t.Fatalf("signing failed: %v %v %v %v", e1, e2, e3, e4)
	}
	st := h.state()
	if st.Generation != 4 || st.Epoch != 2 || len(st.Amendments) != 3 {
		t.Fatalf("generation %d epoch %d amendments %d", st.Generation, st.Epoch, len(st.Amendments))
	}
	if len(st.Signatures) != 1 || st.Signatures[0].WitnessID != "alice" || st.Signatures[0].Epoch != 2 {
		t.Fatalf("signatures = %+v", st.Signatures)
	}
	// Voided: bob (removed, epoch 0), then alice (epoch 0) and carol (epoch 1) by the digest change.
	var voided []string
	for _, v := range st.Voided {
		voided = append(voided, v.WitnessID+"@"+string(rune('0'+v.Epoch)))
		if v.VoidedAt == nil || v.VoidReason == "" {
			t.Fatalf("voided without time or reason: %+v", v)
		}
	}
	if strings.Join(voided, ",") != "bob@0,alice@0,carol@1" {
		t.Fatalf("voided = %v", voided)
	}
	if a := st.Amendments; a[0].Voided != 0 || a[1].Voided != 1 || a[2].Voided != 2 || !a[2].NewEpoch {
		t.Fatalf("amendments = %+v", a)
	}
	ctx := context.Background()
	rows, _ := h.store.Signatures(ctx, st.CeremonyID)
	live := 0
	for _, r := range rows {
		if r.VoidedAt == nil {
			live++
		}
	}
	if len(rows) != 4 || live != 1 {
		t.Fatalf("signature rows = %d (live %d), want 4 (1)", len(rows), live)
	}
	row, _ := h.store.GetCeremony(ctx, st.CeremonyID)
	if row.Epoch != 2 || row.ArtifactDigest != g4.Artifact.Digest || len(row.WitnessIDs) != 3 {
		t.Fatalf("ceremony row = %+v", row)
	}
	if ct := custodyTypes(t, h.store, st.CeremonyID); ct["ceremony.amended"] != 3 || ct["signatures.voided"] != 2 {
		t.Fatalf("custody = %v", ct)
	}
	// Witnesses are told: the removal notice reaches bob too.
	var amended []notify.Message
	for _, m := range h.recorder.Sent() {
		if m.Kind == notify.KindAmended {
			amended = append(amended, m)
		}
	}
	if len(amended) != 3 || !strings.Contains(amended[2].Text, "2 collected signature(s) were voided") {
		t.Fatalf("amended notices = %+v", amended)
	}
	bobTold := false
	for _, r := range amended[1].To {
		bobTold = bobTold || r.ID == "bob"
	}
	if !bobTold {
		t.Fatalf("removed witness not told: %+v", amended[1].To)
	}
}

func TestRemovalAfterQuorumReopensCollecting(t *testing.T) {
	h := newHarness(t)
	var e1, e2 error
	h.sign(time.Minute, "alice", contract.Approve, "k1", &e1)
	h.sign(2*time.Minute, "bob", contract.Approve, "k2", &e2)
	spec := testSpec()
	g2 := spec
	g2.Witnesses = []contract.WitnessRef{{ID: "alice", Role: "security"}, {ID: "carol", Role: "release"}}
	h.signal(3*time.Minute, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s2", Generation: 2, Spec: g2})
	var mid contract.State
	h.env.RegisterDelayedCallback(func() {
		v, _ := h.env.QueryWorkflow(contract.QueryStatus)
		_ = v.Get(&mid)
	}, 4*time.Minute)
	var e3 error
	h.sign(5*time.Minute, "carol", contract.Approve, "k3", &e3)
	h.signal(6*time.Minute, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d", Phase: "Sealed", Generation: 2})
	h.env.ExecuteWorkflow(contract.WorkflowType, spec)
	if mid.Status != contract.StatusCollecting || mid.Approvals != 1 {
		t.Fatalf("after removal: %s approvals %d", mid.Status, mid.Approvals)
	}
	if st := h.state(); st.Status != contract.StatusSealed || e3 != nil {
		t.Fatalf("final %s %v", st.Status, e3)
	}
}

func TestSubstrateSilenceFlagsOperators(t *testing.T) {
	h := newHarness(t)
	var e1, e2 error
	h.sign(time.Minute, "alice", contract.Approve, "k1", &e1)
	h.sign(2*time.Minute, "bob", contract.Approve, "k2", &e2)
	var mid contract.State
	h.env.RegisterDelayedCallback(func() {
		v, _ := h.env.QueryWorkflow(contract.QueryStatus)
		_ = v.Get(&mid)
	}, 25*time.Hour)
	// A decision for an older generation is ignored; the current one seals.
	h.signal(26*time.Hour, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "old", Phase: "Aborted", Generation: -1})
	h.signal(27*time.Hour, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d1", Phase: "Sealed"})
	h.env.ExecuteWorkflow(contract.WorkflowType, testSpec())
	if mid.Status != contract.StatusQuorumReached || mid.Attention != contract.AttentionSubstrateTimeout {
		t.Fatalf("after 25h: %s attention %q", mid.Status, mid.Attention)
	}
	st := h.state()
	if st.Status != contract.StatusSealed || st.Attention != "" {
		t.Fatalf("final %s attention %q", st.Status, st.Attention)
	}
	if ct := custodyTypes(t, h.store, st.CeremonyID); ct["ceremony.attention"] != 1 {
		t.Fatalf("custody = %v", ct)
	}
	got := kinds(h.recorder.Sent())
	if strings.Join(got, ",") != "opened,outcome,attention,outcome" {
		t.Fatalf("notifications = %v", got)
	}
}

func TestIdempotentMessages(t *testing.T) {
	h := newHarness(t)
	var e1, e2, e3 error
	// The same key by signal, then by update: the update gets the signal's answer.
	h.signal(time.Minute, contract.SignalWitnessSignature, contract.SignRequest{IdempotencyKey: "k1", WitnessID: "mallory", Decision: contract.Approve})
	h.sign(2*time.Minute, "alice", contract.Approve, "k1", &e1)
	h.sign(3*time.Minute, "alice", contract.Approve, "k2", &e2)
	h.sign(4*time.Minute, "alice", contract.Approve, "k2", &e3)
	h.signal(5*time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "c1", By: "ivy"})
	h.env.ExecuteWorkflow(contract.WorkflowType, testSpec())
	if code(e1) != "unknown_witness" || e2 != nil || e3 != nil {
		t.Fatalf("answers: %v / %v / %v", e1, e2, e3)
	}
	st := h.state()
	if len(st.Signatures) != 1 || len(st.Rejected) != 1 || st.Status != contract.StatusCancelled || st.Reason != "cancelled" {
		t.Fatalf("state = %+v", st)
	}
}

func TestNotificationFailureIsRecorded(t *testing.T) {
	failing := &failingNotifier{}
	h := newHarness(t, failing)
	h.signal(time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "c", By: "operator", Reason: "x"})
	h.env.ExecuteWorkflow(contract.WorkflowType, testSpec())
	st := h.state()
	if st.Status != contract.StatusCancelled {
		t.Fatal(st.Status)
	}
	if failing.tries != 2*workflows.NotifyAttempts {
		t.Fatalf("tries = %d, want %d", failing.tries, 2*workflows.NotifyAttempts)
	}
	ct := custodyTypes(t, h.store, st.CeremonyID)
	if ct[custody.TypeNotificationFailed] != 2 || ct["notification.delivered"] != 0 {
		t.Fatalf("custody = %v", ct)
	}
	n, _ := h.store.Notifications(context.Background(), st.CeremonyID)
	if len(n) != 2 || !strings.Contains(n[0].Body, "relay refused the message") {
		t.Fatalf("notifications = %+v", n)
	}
}

func TestUnreadablePayloadsAreRecorded(t *testing.T) {
	h := newHarness(t)
	h.signal(time.Minute, contract.SignalWitnessSignature, []byte{0xff, 0x00})                                      // binary/plain
	h.signal(2*time.Minute, contract.SignalSpecChanged, map[string]any{"idempotencyKey": "s", "generation": "two"}) // wrong type
	h.signal(3*time.Minute, contract.SignalSpecChanged, map[string]any{"idempotencyKey": "s9", "generation": 9, "spec": map[string]any{"id": "other/x"}})
	h.signal(4*time.Minute, contract.SignalSubstrateDecision, map[string]any{"phase": "Sealed"}) // no key
	h.signal(5*time.Minute, contract.SignalCancel, nil)
	h.signal(6*time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "c", By: "operator"})
	h.env.ExecuteWorkflow(contract.WorkflowType, testSpec())
	st := h.state()
	if st.Status != contract.StatusCancelled || len(st.Rejected) != 5 {
		t.Fatalf("state %s rejected %+v", st.Status, st.Rejected)
	}
	if !strings.Contains(st.Rejected[0].Reason, "binary/plain is not JSON") || !strings.Contains(st.Rejected[2].Reason, "does not match") {
		t.Fatalf("reasons = %+v", st.Rejected)
	}
}

// continueAsNew runs one run of the workflow and returns the arguments of the
// next run when it continued as new.
func continueAsNew(t *testing.T, h *harness, args ...any) (contract.Spec, *workflows.Continued) {
	t.Helper()
	h.env.ExecuteWorkflow(contract.WorkflowType, args...)
	err := h.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("workflow did not continue as new: %v", err)
	}
	var spec contract.Spec
	var next *workflows.Continued
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &spec, &next); err != nil {
		t.Fatal(err)
	}
	return spec, next
}

func TestContinueAsNewCarriesState(t *testing.T) {
	// Run 1: the server suggests continuing once two messages are processed.
	h := newHarness(t)
	var e1 error
	h.sign(time.Minute, "alice", contract.Approve, "k1", &e1)
	h.signal(2*time.Minute, contract.SignalWitnessSignature, map[string]any{"idempotencyKey": "bad"})
	h.env.RegisterDelayedCallback(func() { h.env.SetContinueAsNewSuggested(true) }, 3*time.Minute)
	h.signal(3*time.Minute, contract.SignalCancel, map[string]any{"idempotencyKey": "c0"}) // wakes the loop; refused (no "by")
	spec, next := continueAsNew(t, h, testSpec())
	if e1 != nil || next == nil || len(next.State.Signatures) != 1 || next.State.Runs != 1 {
		t.Fatalf("carried %+v (%v)", next, e1)
	}
	for _, k := range []string{"k1", "bad", "c0"} {
		if _, ok := next.Answers[k]; !ok {
			t.Fatalf("idempotency key %s not carried: %v", k, next.Answers)
		}
	}
	// Messages carried in the inbox are processed first by the next run.
	raw, _ := json.Marshal(contract.SignRequest{IdempotencyKey: "k2", WitnessID: "bob", Decision: contract.Approve})
	next.Inbox = append(next.Inbox, workflows.Message{Name: contract.SignalWitnessSignature, Payload: raw})

	// Run 2: a repeated key is answered as before, bob's carried signature counts.
	h2 := newHarnessOn(t, h.store)
	var e2, e3 error
	h2.sign(time.Minute, "alice", contract.Approve, "k1", &e2)
	h2.sign(2*time.Minute, "alice", contract.Reject, "k9", &e3)
	h2.signal(3*time.Minute, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d", Phase: "Sealed"})
	h2.env.ExecuteWorkflow(contract.WorkflowType, spec, next)
	st := h2.state()
	if e2 != nil || code(e3) != "already_signed" {
		t.Fatalf("answers %v / %v", e2, e3)
	}
	if st.Status != contract.StatusSealed || st.Runs != 2 || len(st.Signatures) != 2 || st.OpenedAt != next.State.OpenedAt {
		t.Fatalf("state %s runs %d sigs %d", st.Status, st.Runs, len(st.Signatures))
	}
}

func TestContinueAsNewTuningFlag(t *testing.T) {
	h := newHarness(t)
	for i, w := range []string{"mallory", "trudy", "eve"} {
		h.signal(time.Duration(i+1)*time.Minute, contract.SignalWitnessSignature, contract.SignRequest{IdempotencyKey: w, WitnessID: w, Decision: contract.Approve})
	}
	_, next := continueAsNew(t, h, testSpec(), &workflows.Continued{Tuning: workflows.Tuning{ContinueAsNewAfter: 2}})
	if len(next.State.Rejected) != 2 || next.Tuning.ContinueAsNewAfter != 2 {
		t.Fatalf("carried rejected %d tuning %+v", len(next.State.Rejected), next.Tuning)
	}
}

func TestTemporalCancelRequestCancelsCeremony(t *testing.T) {
	h := newHarness(t)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Minute)
	h.env.ExecuteWorkflow(contract.WorkflowType, testSpec())
	st := h.state()
	if st.Status != contract.StatusCancelled || !strings.Contains(st.Reason, "workflow cancel") {
		t.Fatalf("state %s %q", st.Status, st.Reason)
	}
	if ct := custodyTypes(t, h.store, st.CeremonyID); ct["ceremony.status_changed"] != 1 || ct["notification.delivered"] != 2 {
		t.Fatalf("custody = %v", ct)
	}
}

func TestInvalidSpecRejectedAtOnce(t *testing.T) {
	h := newHarness(t)
	spec := testSpec()
	spec.Kind = strings.Repeat("k", 5000)
	for i := range 150 {
		spec.Witnesses = append(spec.Witnesses, contract.WitnessRef{ID: strings.Repeat("w", 10) + string(rune('a'+i%26)) + strings.Repeat("x", i)})
	}
	h.env.ExecuteWorkflow(contract.WorkflowType, spec)
	st := h.state()
	if st.Status != contract.StatusRejected || !strings.Contains(st.Reason, "invalid spec: kind") {
		t.Fatalf("state %s %q", st.Status, st.Reason)
	}
}

func TestGarbageFloodStaysBounded(t *testing.T) {
	h := newHarness(t)
	const n = workflows.MaxRejectedKept + 30
	for i := range n {
		h.signal(time.Duration(i+1)*time.Second, contract.SignalWitnessSignature,
			map[string]any{"idempotencyKey": strings.Repeat("k", 300) + string(rune(i)), "witnessId": strings.Repeat("w", 100000)})
	}
	h.signal(time.Hour, contract.SignalCancel, contract.Cancel{IdempotencyKey: "c", By: "operator"})
	h.env.ExecuteWorkflow(contract.WorkflowType, testSpec())
	st := h.state()
	if st.Status != contract.StatusCancelled || len(st.Rejected) != workflows.MaxRejectedKept || st.RejectedCount != n {
		t.Fatalf("state %s rejected %d count %d", st.Status, len(st.Rejected), st.RejectedCount)
	}
	b, _ := json.Marshal(st)
	if len(b) > 200<<10 {
		t.Fatalf("state is %d bytes", len(b))
	}
}

func TestContinueAsNewCarriesQueuedSignals(t *testing.T) {
	h := newHarness(t)
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(contract.SignalWitnessSignature, contract.SignRequest{IdempotencyKey: "k1", WitnessID: "alice", Decision: contract.Approve})
		h.env.SignalWorkflow(contract.SignalWitnessSignature, contract.SignRequest{IdempotencyKey: "k2", WitnessID: "bob", Decision: contract.Approve})
		h.env.SignalWorkflow(contract.SignalCancel, []byte("not json"))
	}, time.Minute)
	_, next := continueAsNew(t, h, testSpec(), &workflows.Continued{Tuning: workflows.Tuning{ContinueAsNewAfter: 1}})
	if len(next.State.Signatures) != 1 || len(next.Inbox) != 2 {
		t.Fatalf("signatures %d, carried inbox %+v", len(next.State.Signatures), next.Inbox)
	}
	if next.Inbox[0].Name != contract.SignalWitnessSignature || next.Inbox[1].Name != contract.SignalCancel || next.Inbox[1].Problem == "" {
		t.Fatalf("carried inbox %+v", next.Inbox)
	}
	// The next run processes them first: bob's signature makes the quorum, the
	// unreadable cancel is recorded as refused.
	h2 := newHarnessOn(t, h.store)
	h2.signal(time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "c", By: "operator"})
	next.Tuning = workflows.Tuning{}
	h2.env.ExecuteWorkflow(contract.WorkflowType, testSpec(), next)
	st := h2.state()
	if st.Approvals != 2 || st.Status != contract.StatusCancelled || len(st.Rejected) != 1 || st.QuorumReachedAt == nil {
		t.Fatalf("state %s approvals %d rejected %+v", st.Status, st.Approvals, st.Rejected)
	}
}

// failingNotifier fails every delivery, to see final failures.
type failingNotifier struct {
	mu    sync.Mutex
	tries int
}

func (*failingNotifier) Channel() string { return "failing" }

func (f *failingNotifier) Notify(context.Context, notify.Message) error {
	f.mu.Lock()
	f.tries++
	f.mu.Unlock()
	return errors.New("relay refused the message")
}
