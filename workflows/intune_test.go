package workflows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/contract"
)

func intuneSpec() contract.Spec {
	s := testSpec()
	s.Intune = &contract.IntuneTarget{AppID: "0177548a-548a-0177-8a54-77018a547701", OnRevoke: contract.IntuneRevokeRemove,
		Groups: []contract.IntuneGroup{{GroupID: "11111111-2222-3333-4444-555555555555", Intent: contract.IntuneRequired}}}
	return s
}

// Sealing a release with a target starts IntuneDeploy with the sealed target;
// the ceremony's result does not wait for it.
func TestSealedTargetStartsDeployment(t *testing.T) {
	h := newHarness(t)
	var job contract.IntuneJob
	h.env.OnWorkflow(contract.WorkflowIntuneDeploy, mock.Anything, mock.Anything).Return(
		func(_ workflow.Context, j contract.IntuneJob) (activities.IntuneOutcome, error) {
			job = j
			return activities.IntuneOutcome{Outcome: "applied"}, nil
		})
	var e1, e2 error
	h.sign(time.Minute, "alice", contract.Approve, "k1", &e1)
	h.sign(2*time.Minute, "bob", contract.Approve, "k2", &e2)
	h.signal(3*time.Minute, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d1", Phase: "Sealed"})
	h.env.ExecuteWorkflow(contract.WorkflowType, intuneSpec())
	if st := h.state(); st.Status != contract.StatusSealed || e1 != nil || e2 != nil {
		t.Fatalf("state %s, signing %v %v", st.Status, e1, e2)
	}
	want := intuneSpec()
	if job.CeremonyID != want.ID || job.Decision != contract.IntuneReleased || job.Cause != contract.IntuneCauseSealed ||
		job.Target == nil || job.Target.AppID != want.Intune.AppID || job.Digest != want.Artifact.Digest || job.By != "substrate" {
		t.Fatalf("IntuneDeploy started with %+v", job)
	}
}

// A ceremony that ends otherwise starts nothing; one without a target neither.
func TestNoDeploymentUnlessSealed(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		h := newHarness(t)
		started := false
		h.env.OnWorkflow(contract.WorkflowIntuneDeploy, mock.Anything, mock.Anything).Return(
			func(_ workflow.Context, _ contract.IntuneJob) (activities.IntuneOutcome, error) {
				started = true
				return activities.IntuneOutcome{}, nil
			})
		var e error
		h.sign(time.Minute, "alice", contract.Approve, "k1", &e)
		h.sign(2*time.Minute, "bob", contract.Approve, "k2", &e)
		s := intuneSpec()
		if sealed {
			s = testSpec()
			h.signal(3*time.Minute, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d1", Phase: "Sealed"})
		} else {
			h.signal(3*time.Minute, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d1", Phase: "Aborted"})
		}
		h.env.ExecuteWorkflow(contract.WorkflowType, s)
		if started {
			t.Fatalf("sealed=%v: a deployment started", sealed)
		}
	}
}

// The target is part of what witnesses sign: an amendment that changes it voids
// the signatures; an invalid one refuses the spec.
func TestTargetAmendedVoidsSignatures(t *testing.T) {
	h := newHarness(t)
	var e1 error
	h.sign(time.Minute, "alice", contract.Approve, "k1", &e1)
	g2 := intuneSpec()
	g2.Intune.Groups[0].Intent = contract.IntuneAvailable
	h.signal(2*time.Minute, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s2", Generation: 2, Spec: g2})
	g3 := g2
	g3.Intune = &contract.IntuneTarget{AppID: "not-a-guid", OnRevoke: "remove"}
	h.signal(3*time.Minute, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s3", Generation: 3, Spec: g3})
	h.signal(4*time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "c", By: "ivy", Reason: "done"})
	h.env.ExecuteWorkflow(contract.WorkflowType, intuneSpec())
	st := h.state()
	if e1 != nil || len(st.Voided) != 1 || len(st.Amendments) != 1 {
		t.Fatalf("voided %d, amendments %d (%v)", len(st.Voided), len(st.Amendments), e1)
	}
	if ch := strings.Join(st.Amendments[0].Changes, "; "); !strings.Contains(ch, "Intune target changed") {
		t.Fatalf("amendment changes: %s", ch)
	}
	if len(st.Rejected) != 1 || !strings.Contains(st.Rejected[0].Reason, "intune.appId") {
		t.Fatalf("invalid target not refused: %+v", st.Rejected)
	}
	if st.Spec.Intune.Groups[0].Intent != contract.IntuneAvailable {
		t.Fatalf("target in force: %+v", st.Spec.Intune)
	}
}

// A target on a spec that is not a release is refused at opening.
func TestTargetOnlyOnRelease(t *testing.T) {
	h := newHarness(t)
	s := intuneSpec()
	s.Kind = contract.KindRatification
	h.env.ExecuteWorkflow(contract.WorkflowType, s)
	if st := h.state(); st.Status != contract.StatusRejected || !strings.Contains(st.Reason, "only a release") {
		t.Fatalf("state %s: %s", st.Status, st.Reason)
	}
}

// IntuneDeploy refuses a job it cannot carry out before touching anything.
func TestIntuneDeployRefusesBadJobs(t *testing.T) {
	h := newHarness(t)
	h.env.ExecuteWorkflow(contract.WorkflowIntuneDeploy, contract.IntuneJob{CeremonyID: "web/x", Decision: "deploy"})
	if err := h.env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), `"released" or "revoked"`) {
		t.Fatalf("bad decision: %v", err)
	}
}
