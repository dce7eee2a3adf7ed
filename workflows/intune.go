package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
)

// intuneChange versions the Graph bridge in the Ceremony workflow: a spec's
// Intune target is checked with the spec and is part of what witnesses sign
// (an amendment that changes it voids the signatures), and sealing a ceremony
// that has one starts an IntuneDeploy child, which it does not wait for.
// Runs recorded before it (DefaultVersion) ignore a target altogether.
const intuneChange = "intune-bridge"

// intuneEnabled reports whether this run honours Intune targets, recording the
// marker the first time a target is met (only specs with one ask).
func (c *ceremony) intuneEnabled(ctx workflow.Context) bool {
	return changed(ctx, intuneChange, &c.intuneOn)
}

// intuneSpec drops a spec's target on runs before intuneChange, so replaying
// one decides exactly what it decided then.
func (c *ceremony) intuneSpec(ctx workflow.Context, spec contract.Spec) contract.Spec {
	if spec.Intune != nil && !c.intuneEnabled(ctx) {
		spec.Intune = nil
	}
	return spec
}

// intuneChanged describes a changed target for an amendment ("" if the same).
func intuneChanged(old, now *contract.IntuneTarget) string {
	switch {
	case rules.SameIntuneTarget(old, now):
		return ""
	case old == nil:
		return "Intune target added: " + rules.IntuneWords(now)
	case now == nil:
		return "Intune target removed (was: " + rules.IntuneWords(old) + ")"
	}
	return fmt.Sprintf("Intune target changed from %q to %q", rules.IntuneWords(old), rules.IntuneWords(now))
}

// deployIntune starts carrying a sealed release out in Intune: an IntuneDeploy
// child workflow that outlives the ceremony (parent close policy abandon). The
// ceremony's outcome is final already and does not wait for Graph; it waits
// only until the child has started, so the start is never lost.
func (c *ceremony) deployIntune(actx workflow.Context, actor string) {
	spec := c.st.Spec
	if spec.Intune == nil || !c.intuneEnabled(actx) {
		return
	}
	job := contract.IntuneJob{CeremonyID: c.st.CeremonyID, Decision: contract.IntuneReleased, Target: spec.Intune,
		Digest: spec.Artifact.Digest, Cause: contract.IntuneCauseSealed, By: orDefault(actor, "guildhall")}
	c.background++
	workflow.Go(actx, func(gctx workflow.Context) {
		defer func() { c.background-- }()
		startIntune(gctx, job)
	})
}

// startIntune starts an IntuneDeploy child that outlives its parent and waits
// until it has started. One already running for the same ceremony and decision
// is carrying the job out already.
func startIntune(ctx workflow.Context, job contract.IntuneJob) {
	cctx := workflow.WithChildOptions(ctx, IntuneChildOptions(job))
	f := workflow.ExecuteChildWorkflow(cctx, contract.WorkflowIntuneDeploy, job)
	if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			workflow.GetLogger(ctx).Info("intune deployment already running", "ceremony", job.CeremonyID, "decision", job.Decision)
			return
		}
		workflow.GetLogger(ctx).Error("start intune deployment failed", "ceremony", job.CeremonyID, "decision", job.Decision, "error", err)
	}
}

// IntuneChildOptions are the options an IntuneDeploy child starts with: its id
// (one run per ceremony and decision at a time, re-runnable once it ended), a
// life of its own, and the artifact digest for filters in the Temporal UI.
func IntuneChildOptions(job contract.IntuneJob) workflow.ChildWorkflowOptions {
	o := workflow.ChildWorkflowOptions{
		WorkflowID:            contract.IntuneWorkflowID(job.CeremonyID, job.Decision),
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		StaticSummary:         job.Summary(),
	}
	if job.Digest != "" {
		o.TypedSearchAttributes = temporal.NewSearchAttributes(temporal.NewSearchAttributeKeyKeyword(contract.SAArtifactDigest).ValueSet(job.Digest))
	}
	return o
}

// intuneHeartbeatTimeout is three of activities.DefaultIntuneHeartbeat: a
// carry-out whose worker died is tried again after it, not after ten minutes.
const intuneHeartbeatTimeout = 3 * activities.DefaultIntuneHeartbeat

// intuneFirstTries give a carry-out a few quick tries before the deployment is
// flagged for operators; intuneRetries then retry without end, at most every
// ten minutes, so a Graph outage delays a deployment and never loses it. A
// Retry-After from Graph overrides either interval (activities.graphFailure).
var (
	intuneFirstTries = workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute, HeartbeatTimeout: intuneHeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 10 * time.Second, BackoffCoefficient: 2,
			MaximumInterval: time.Minute, MaximumAttempts: 3},
	}
	intuneRetries = workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute, HeartbeatTimeout: intuneHeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 30 * time.Second, BackoffCoefficient: 2,
			MaximumInterval: 10 * time.Minute},
	}
)

// IntuneDeploy carries one decision about a sealed ceremony's Intune target out
// through Graph: it records the request, then tries until Intune matches the
// decision or Graph refuses in a way only a person can fix (the run then
// fails, naming why, and the deployment shows as failed until an admin
// re-applies). While it keeps failing it sets CeremonyAttention to
// intune_failing. Every step is on the ceremony's custody chain (activities).
func IntuneDeploy(ctx workflow.Context, job contract.IntuneJob) (activities.IntuneOutcome, error) {
	var out activities.IntuneOutcome
	if err := rules.CeremonyID(job.CeremonyID); err != nil || (job.Decision != contract.IntuneReleased && job.Decision != contract.IntuneRevoked) {
		return out, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf(`an IntuneDeploy job needs a ceremonyId and a decision "released" or "revoked", got %q and %q`, job.CeremonyID, job.Decision), "invalid", nil)
	}
	actx := workflow.WithActivityOptions(ctx, activityOptions)
	var task activities.IntuneTask
	key := "intune/" + job.CeremonyID + "/" + workflow.GetInfo(ctx).WorkflowExecution.RunID + "/requested"
	if err := workflow.ExecuteActivity(actx, a.IntuneRequested, activities.IntuneRequest{Job: job, Key: key}).Get(ctx, &task); err != nil {
		return out, err
	}
	task.Step = 1
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, intuneFirstTries), a.IntuneCarryOut, task).Get(ctx, &out)
	if err == nil || !retryable(err) {
		return out, err
	}
	setIntuneAttention(ctx, contract.AttentionIntuneFailing)
	task.Step = 2
	err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, intuneRetries), a.IntuneCarryOut, task).Get(ctx, &out)
	if err == nil {
		setIntuneAttention(ctx, "")
	}
	return out, err
}

// retryable reports whether an activity failure may yet succeed.
func retryable(err error) bool {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return !app.NonRetryable()
	}
	var timeout *temporal.TimeoutError
	return errors.As(err, &timeout)
}

// setIntuneAttention sets (or, with "", unsets) CeremonyAttention on a Graph
// bridge workflow.
func setIntuneAttention(ctx workflow.Context, reason string) {
	key := temporal.NewSearchAttributeKeyKeyword(contract.SACeremonyAttention)
	u := key.ValueSet(reason)
	if reason == "" {
		u = key.ValueUnset()
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, u); err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes failed", "error", err)
	}
}

// intuneCheckOptions: a drift check tries a deployment a few times; the next
// scheduled run tries again.
var intuneCheckOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 5 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2,
		MaximumInterval: time.Minute, MaximumAttempts: 3},
}

// DriftSummary is what one drift check found.
type DriftSummary struct {
	Deployments int      `json:"deployments"`
	Checked     int      `json:"checked"`
	Drifted     []string `json:"drifted,omitempty"`  // ceremony ids whose Intune differs (or could not be read)
	Revoking    []string `json:"revoking,omitempty"` // revoked artifacts whose withdrawal it started
	Unreachable []string `json:"unreachable,omitempty"`
}

// IntuneDriftCheck compares every deployment Guildhall carried out with what
// Intune reports (IntuneCheck, which puts a changed finding on the custody
// chain), and starts the withdrawal of any revoked artifact whose deployment
// still stands (should the revocation's own start have been missed). It runs
// on the intune-drift Temporal Schedule; CeremonyAttention is intune_drift on
// a run that found drift. It changes nothing in Intune: an operator re-applies.
func IntuneDriftCheck(ctx workflow.Context) (DriftSummary, error) {
	var sum DriftSummary
	actx := workflow.WithActivityOptions(ctx, activityOptions)
	var refs []activities.IntuneDeploymentRef
	if err := workflow.ExecuteActivity(actx, a.IntuneDeployments).Get(ctx, &refs); err != nil {
		return sum, err
	}
	sum.Deployments = len(refs)
	cctx := workflow.WithActivityOptions(ctx, intuneCheckOptions)
	for _, d := range refs {
		if d.ArtifactState == activities.ArtifactRevoked && d.Decision == contract.IntuneReleased {
			startIntune(ctx, contract.IntuneJob{CeremonyID: d.CeremonyID, Decision: contract.IntuneRevoked, Digest: d.Digest,
				Cause: contract.IntuneCauseDrift, By: "guildhall"})
			sum.Revoking = append(sum.Revoking, d.CeremonyID)
			continue
		}
		if d.State != activities.IntuneApplied {
			continue
		}
		var res activities.IntuneCheckResult
		if err := workflow.ExecuteActivity(cctx, a.IntuneCheck, activities.IntuneTask{CeremonyID: d.CeremonyID, Decision: d.Decision, Digest: d.Digest}).Get(ctx, &res); err != nil {
			workflow.GetLogger(ctx).Warn("drift check could not read Intune", "ceremony", d.CeremonyID, "error", err)
			sum.Unreachable = append(sum.Unreachable, d.CeremonyID)
			continue
		}
		if res.Checked {
			sum.Checked++
		}
		if res.Drift > 0 || res.Error != "" {
			sum.Drifted = append(sum.Drifted, d.CeremonyID)
		}
	}
	if len(sum.Drifted) > 0 {
		setIntuneAttention(ctx, contract.AttentionIntuneDrift)
	}
	return sum, nil
}
