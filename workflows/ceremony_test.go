package workflows_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/notify"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
	"github.com/guildhouse/guildhall/worker"
)

const digest = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"

func testSpec() contract.Spec {
	return contract.Spec{
		ID: "test/rel-1", Kind: contract.KindRelease,
		Artifact:  contract.Artifact{Name: "app", Digest: digest},
		Initiator: "ivy",
		Witnesses: []contract.WitnessRef{{ID: "alice", Role: "security"}, {ID: "bob", Role: "release"}, {ID: "carol", Role: "release"}},
		Quorum:    contract.Quorum{Threshold: 2},
		Deadline:  time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

type harness struct {
	t        *testing.T
	env      *testsuite.TestWorkflowEnvironment
	store    *store.Store
	recorder *notify.Recorder
}

func newHarness(t *testing.T, notifiers ...notify.Notifier) *harness {
	return newHarnessOn(t, storetest.SQLite(t), notifiers...)
}

func newHarnessOn(t *testing.T, s *store.Store, notifiers ...notify.Notifier) *harness {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC))
	rec := &notify.Recorder{Log: slog.New(slog.DiscardHandler)}
	if len(notifiers) == 0 {
		notifiers = []notify.Notifier{rec}
	}
	worker.Register(env, &activities.Activities{Store: s, Notifiers: notifiers})
	return &harness{t: t, env: env, store: s, recorder: rec}
}

// sign sends the sign update at delay and records the outcome.
func (h *harness) sign(delay time.Duration, witness string, d contract.Decision, key string, got *error) {
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(contract.UpdateSign, key, &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { *got = err },
			OnComplete: func(_ any, err error) {
				if err != nil {
					*got = err
				}
			},
		}, contract.SignRequest{IdempotencyKey: key, WitnessID: witness, Decision: d})
	}, delay)
}

func (h *harness) signal(delay time.Duration, name string, payload any) {
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(name, payload) }, delay)
}

func (h *harness) state() contract.State {
	var st contract.State
	if err := h.env.GetWorkflowResult(&st); err != nil {
		h.t.Fatalf("workflow result: %v", err)
	}
	return st
}

func code(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Type()
	}
	if err == nil {
		return ""
	}
	return "?" + err.Error()
}

func TestQuorumThenSealed(t *testing.T) {
	h := newHarness(t)
	var e1, e2 error
	h.sign(time.Minute, "alice", contract.Approve, "k1", &e1)
	h.sign(2*time.Minute, "bob", contract.Approve, "k2", &e2)
	h.signal(3*time.Minute, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d1", Phase: "Sealed"})
	h.env.ExecuteWorkflow(contract.WorkflowType, testSpec())
	if e1 != nil || e2 != nil {
		t.Fatalf("signing failed: %v %v", e1, e2)
	}
	st := h.state()
	if st.Status != contract.StatusSealed || st.Approvals != 2 || len(st.Signatures) != 2 {
		t.Fatalf("state = %s approvals=%d sigs=%d", st.Status, st.Approvals, len(st.Signatures))
	}
	sigs, _ := h.store.Signatures(context.Background(), "test/rel-1")
	if len(sigs) != 2 {
		t.Fatalf("signature rows = %d, want 2", len(sigs))
	}
}

func TestDuplicateSignatureIsRefusedWithFirstTime(t *testing.T) {
	h := newHarness(t)
	var e1, e2, e3 error
	h.sign(time.Minute, "alice", contract.Reject, "k1", &e1)
	h.sign(2*time.Minute, "alice", contract.Approve, "k2", &e2)
	h.sign(3*time.Minute, "alice", contract.Reject, "k1", &e3) // same key: same answer, no change
	h.signal(4*time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "c", By: "ivy", Reason: "done"})
	h.env.ExecuteWorkflow(contract.WorkflowType, testSpec())
	if e1 != nil || e3 != nil {
		t.Fatalf("first signature or its retry failed: %v %v", e1, e3)
	}
	if code(e2) != "already_signed" || !strings.Contains(e2.Error(), "2029-12-01T00:01:00Z") {
		t.Fatalf("second signature: %v, want already_signed naming the first time", e2)
	}
	st := h.state()
	if len(st.Signatures) != 1 || st.Signatures[0].Decision != contract.Reject {
		t.Fatalf("signatures = %+v", st.Signatures)
	}
}

func TestNonWitnessAndInitiatorAreRefused(t *testing.T) {
	h := newHarness(t)
	var e1, e2 error
	h.sign(time.Minute, "mallory", contract.Approve, "k1", &e1)
	h.sign(2*time.Minute, "ivy", contract.Approve, "k2", &e2)
	h.signal(3*time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "c", By: "operator", Reason: "test over"})
	h.env.ExecuteWorkflow(contract.WorkflowType, testSpec())
	if code(e1) != "unknown_witness" || code(e2) != "not_a_witness" {
		t.Fatalf("got %v / %v", e1, e2)
	}
	st := h.state()
	if st.Status != contract.StatusCancelled || st.Reason != "test over" || len(st.Signatures) != 0 {
		t.Fatalf("state = %+v", st)
	}
}

func TestDeadlineExpires(t *testing.T) {
	h := newHarness(t)
	var e1 error
	h.sign(time.Hour, "alice", contract.Approve, "k1", &e1)
	h.env.ExecuteWorkflow(contract.WorkflowType, testSpec())
	st := h.state()
	if st.Status != contract.StatusExpired || st.ClosedAt == nil || !st.ClosedAt.Equal(testSpec().Deadline) {
		t.Fatalf("state = %s closed %v", st.Status, st.ClosedAt)
	}
	c, err := h.store.GetCeremony(context.Background(), "test/rel-1")
	if err != nil || c.Status != "expired" {
		t.Fatalf("ceremony row %+v %v", c, err)
	}
}

func TestGarbageSignalsAreRecordedNotFatal(t *testing.T) {
	h := newHarness(t)
	var e1 error
	h.signal(time.Minute, contract.SignalWitnessSignature, map[string]any{"witnessId": 42})
	h.signal(2*time.Minute, contract.SignalWitnessSignature, map[string]any{"idempotencyKey": "x", "witnessId": "alice", "decision": "approve", "colour": "red"})
	h.signal(3*time.Minute, contract.SignalWitnessSignature, "not an object")
	h.signal(4*time.Minute, contract.SignalCancel, map[string]any{"by": ""})
	h.sign(5*time.Minute, "alice", contract.Approve, "k1", &e1)
	h.signal(6*time.Minute, contract.SignalWitnessSignature, contract.SignRequest{IdempotencyKey: "k2", WitnessID: "carol", Decision: contract.Approve})
	h.signal(7*time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "c", By: "operator", Reason: "x"})
	h.env.ExecuteWorkflow(contract.WorkflowType, testSpec())
	if e1 != nil {
		t.Fatal(e1)
	}
	st := h.state()
	if len(st.Rejected) != 4 {
		t.Fatalf("rejected = %d, want 4: %+v", len(st.Rejected), st.Rejected)
	}
	if st.Status != contract.StatusQuorumReached && st.Status != contract.StatusCancelled {
		t.Fatalf("status = %s", st.Status)
	}
	if st.Approvals != 2 {
		t.Fatalf("approvals = %d, want 2 (garbage must not drop accepted signatures)", st.Approvals)
	}
}
