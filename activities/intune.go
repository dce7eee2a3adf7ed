package activities

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/intune"
	"github.com/guildhouse/guildhall/store"
)

// Graph is the Graph bridge's client as the activities use it; *intune.Client
// satisfies it. Nil (Activities.Graph) means the bridge is not configured on
// this worker: deployments wait, pending, until one that is picks them up.
type Graph interface {
	Apply(ctx context.Context, t intune.Target) (intune.Result, error)
	Revoke(ctx context.Context, t intune.Target) (intune.Result, error)
	Check(ctx context.Context, t intune.Target, d intune.Decision) (intune.Result, error)
}

// IntuneLease is how long one carry-out may hold a deployment; the workflow's
// start-to-close timeout for IntuneCarryOut is shorter.
const IntuneLease = 11 * time.Minute

// DefaultIntuneHeartbeat is how often a carry-out heartbeats. The workflow's
// heartbeat timeout is a few of these, so a carry-out whose worker died is
// tried again (by the same run, which may take its own lease back) within a
// minute, not after the start-to-close timeout.
const DefaultIntuneHeartbeat = 10 * time.Second

// notConfiguredWait is how long a deployment waits before a worker without the
// Graph bridge lets it try again.
const notConfiguredWait = 5 * time.Minute

// IntuneTask names a deployment and the decision to carry out.
type IntuneTask struct {
	CeremonyID string
	Decision   contract.IntuneDecision
	Digest     string
	// Step numbers the workflow's tries, so each attempt's custody event has
	// its own key.
	Step int
}

// IntuneOutcome is what a carry-out did.
type IntuneOutcome struct {
	// Outcome is "applied" (Intune matches the decision now) or "skipped"
	// (the decision no longer stands: nothing was done).
	Outcome  string
	Reason   string
	Changes  int
	Assigned bool
}

// IntuneRequest is the input of IntuneRequested: the job, and the key that
// makes recording it idempotent (the workflow run's).
type IntuneRequest struct {
	Job contract.IntuneJob
	Key string
}

// IntuneRequested records that a job was asked for (the deployment row and an
// intune.requested custody event) and returns the task to carry out. A job
// without a target for a ceremony that has no deployment fails for good.
func (a *Activities) IntuneRequested(ctx context.Context, in IntuneRequest) (IntuneTask, error) {
	job := in.Job
	d, err := a.Store.RequestIntune(ctx, store.IntuneRequest{
		CeremonyID: job.CeremonyID, Digest: job.Digest, Target: job.Target, Decision: job.Decision,
		Cause: job.Cause, By: cmp.Or(job.By, "guildhall"), At: time.Now(), Key: in.Key,
	})
	if errors.Is(err, store.ErrNotFound) {
		return IntuneTask{}, temporal.NewNonRetryableApplicationError(err.Error(), "intune_no_deployment", nil)
	}
	if err != nil {
		return IntuneTask{}, err
	}
	return IntuneTask{CeremonyID: d.CeremonyID, Decision: job.Decision, Digest: d.ArtifactDigest}, nil
}

// IntuneCarryOut makes Intune match the deployment's decision: one Apply or
// Revoke through Graph, under the deployment's lease, recorded on the custody
// chain with every call it made. A decision that no longer stands (a release
// whose artifact was revoked, a request superseded by a newer one) is skipped.
// Failures Graph may get over (throttling, outages) are retried by Temporal,
// after Retry-After when Graph named one; the rest need a person and end the
// run (the deployment is then failed).
func (a *Activities) IntuneCarryOut(ctx context.Context, in IntuneTask) (IntuneOutcome, error) {
	info := activity.GetInfo(ctx)
	owner := info.WorkflowExecution.RunID
	key := fmt.Sprintf("intune/%s/%s/%d/%d", in.CeremonyID, owner, in.Step, info.Attempt)
	now := time.Now()
	d, err := a.Store.ClaimIntune(ctx, in.CeremonyID, owner, now, now.Add(IntuneLease))
	if errors.Is(err, store.ErrIntuneBusy) {
		return IntuneOutcome{}, temporal.NewApplicationErrorWithOptions(err.Error(), "intune_busy",
			temporal.ApplicationErrorOptions{NextRetryDelay: 15 * time.Second, Category: temporal.ApplicationErrorCategoryBenign})
	}
	if err != nil {
		return IntuneOutcome{}, err
	}
	defer heartbeat(ctx, cmp.Or(a.IntuneHeartbeat, DefaultIntuneHeartbeat))()
	defer func() {
		if err := a.Store.ReleaseIntune(context.WithoutCancel(ctx), in.CeremonyID, owner); err != nil {
			activity.GetLogger(ctx).Warn("release intune lease", "ceremony", in.CeremonyID, "error", err)
		}
	}()
	if reason := a.stale(ctx, d, in.Decision); reason != "" {
		err := a.Store.RecordIntune(ctx, store.IntuneResult{CeremonyID: in.CeremonyID, Decision: in.Decision, Type: custody.TypeIntuneSkipped,
			Data: map[string]any{"decision": in.Decision, "reason": reason}, Key: key, At: time.Now()})
		return IntuneOutcome{Outcome: "skipped", Reason: reason}, err
	}
	if a.Graph == nil {
		msg := "the Graph bridge is not configured on this worker (set GRAPH_TENANT_ID, GRAPH_CLIENT_ID and GRAPH_CLIENT_SECRET or a certificate); waiting for one that is"
		if err := a.Store.NoteIntuneError(ctx, in.CeremonyID, msg, time.Now()); err != nil {
			return IntuneOutcome{}, err
		}
		return IntuneOutcome{}, temporal.NewApplicationErrorWithOptions(msg, "intune_not_configured",
			temporal.ApplicationErrorOptions{NextRetryDelay: notConfiguredWait})
	}
	target, err := d.IntuneTarget()
	if err != nil {
		return IntuneOutcome{}, temporal.NewNonRetryableApplicationError(err.Error(), "intune_invalid", err)
	}
	run := a.Graph.Apply
	if in.Decision == contract.IntuneRevoked {
		run = a.Graph.Revoke
	}
	res, gerr := run(ctx, target)
	data := resultData(res, in.Decision, info.Attempt)
	managed, _ := json.Marshal(nonNilAssignments(res.Managed))
	if gerr == nil {
		err := a.Store.RecordIntune(ctx, store.IntuneResult{CeremonyID: in.CeremonyID, Decision: in.Decision, Type: custody.TypeIntuneApplied,
			State: store.IntuneApplied, Managed: managed, Data: data, Key: key, At: time.Now()})
		return IntuneOutcome{Outcome: "applied", Changes: len(res.Changes), Assigned: res.Assigned}, err
	}
	retry := intune.IsRetryable(gerr)
	data["error"], data["retryable"] = gerr.Error(), retry
	var ie *intune.Error
	if errors.As(gerr, &ie) {
		data["errorKind"] = ie.Kind
		if ie.RetryAfter > 0 {
			data["retryAfterMs"] = ie.RetryAfter.Milliseconds()
		}
	}
	state := store.IntunePending
	if !retry {
		state = store.IntuneFailed
	}
	var keep json.RawMessage
	if res.Assigned {
		keep = managed // the assign call went through; record what it made
	}
	if err := a.Store.RecordIntune(ctx, store.IntuneResult{CeremonyID: in.CeremonyID, Decision: in.Decision, Type: custody.TypeIntuneFailed,
		State: state, Error: gerr.Error(), Managed: keep, Data: data, Key: key, At: time.Now()}); err != nil {
		return IntuneOutcome{}, err
	}
	return IntuneOutcome{}, graphFailure(gerr)
}

// heartbeat records an activity heartbeat every period until the returned
// stop is called (Graph calls block; they cannot heartbeat themselves).
func heartbeat(ctx context.Context, every time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}

// stale says why a decision no longer stands, or "".
func (a *Activities) stale(ctx context.Context, d store.IntuneDeployment, decision contract.IntuneDecision) string {
	if string(decision) != d.Decision {
		return fmt.Sprintf("superseded: the deployment's decision is now %s", d.Decision)
	}
	if decision == contract.IntuneReleased {
		if art, err := a.Store.GetArtifact(ctx, d.ArtifactDigest); err == nil && store.IntuneDecisionFor(art.State) != decision {
			return "the artifact was revoked: a revoked release is not deployed"
		}
	}
	return ""
}

// graphFailure maps a Graph error to Temporal's terms: retried (after the
// server's Retry-After, when it gave one) or not.
func graphFailure(err error) error {
	kind := "intune_unavailable"
	var ie *intune.Error
	if errors.As(err, &ie) {
		kind = "intune_" + string(ie.Kind)
	}
	if intune.IsRetryable(err) {
		return temporal.NewApplicationErrorWithOptions(err.Error(), kind, temporal.ApplicationErrorOptions{NextRetryDelay: intune.RetryAfter(err)})
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), kind, nil)
}

// resultData is what the custody chain keeps of an operation: the decision, the
// app, what differed and what was changed, Guildhall's assignments afterwards
// (with Intune's ids), and every HTTP exchange (never a token or a secret).
func resultData(r intune.Result, d contract.IntuneDecision, attempt int32) map[string]any {
	changes := r.Changes
	if changes == nil {
		changes = []intune.Change{}
	}
	return map[string]any{
		"decision": d, "appId": r.AppID, "appName": r.App.DisplayName, "attempt": attempt,
		"changes": changes, "assigned": r.Assigned, "managed": nonNilAssignments(r.Managed),
		"remaining": r.Remaining, "assignmentsBefore": len(r.Before), "assignmentsAfter": len(r.After),
		"calls": r.Calls,
	}
}

func nonNilAssignments(as []intune.Assignment) []intune.Assignment {
	if as == nil {
		return []intune.Assignment{}
	}
	return as
}

// IntuneDeploymentRef is a deployment as the drift check sees it, and the
// states it compares (the store's, named here so workflows need not import it).
type IntuneDeploymentRef = store.IntuneDeploymentRef

const (
	ArtifactRevoked = store.ArtifactRevoked
	IntuneApplied   = store.IntuneApplied
)

// IntuneDeployments lists every deployment for the drift check.
func (a *Activities) IntuneDeployments(ctx context.Context) ([]store.IntuneDeploymentRef, error) {
	return a.Store.ListIntuneDeployments(ctx)
}

// IntuneCheckResult is what one drift check found.
type IntuneCheckResult struct {
	Checked bool
	Drift   int
	Error   string
	// Changed is set when the finding differs from the last one (and so is
	// on the custody chain).
	Changed bool
}

// IntuneCheck compares a deployment's decision with what Intune reports,
// changing nothing in Intune. The finding goes on the custody chain when it
// differs from the last check's. A deployment being carried out (pending, or
// its lease held) is not checked. Graph being unreachable is an error (the
// next scheduled check tries again); a refusal is a finding.
func (a *Activities) IntuneCheck(ctx context.Context, in IntuneTask) (IntuneCheckResult, error) {
	if a.Graph == nil {
		return IntuneCheckResult{}, temporal.NewNonRetryableApplicationError("the Graph bridge is not configured on this worker", "intune_not_configured", nil)
	}
	d, err := a.Store.GetIntuneDeployment(ctx, in.CeremonyID)
	if err != nil {
		return IntuneCheckResult{}, err
	}
	if d.State != store.IntuneApplied || d.Decision != string(in.Decision) || (d.LeaseOwner != "" && d.LeaseUntil != nil && d.LeaseUntil.After(time.Now())) {
		return IntuneCheckResult{}, nil
	}
	target, err := d.IntuneTarget()
	if err != nil {
		return IntuneCheckResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "intune_invalid", err)
	}
	res, gerr := a.Graph.Check(ctx, target, in.Decision)
	if gerr != nil && intune.IsRetryable(gerr) {
		return IntuneCheckResult{}, graphFailure(gerr)
	}
	drift := slices.Clone(res.Changes)
	slices.SortFunc(drift, func(x, y intune.Change) int {
		return cmp.Or(cmp.Compare(x.GroupID, y.GroupID), cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.Text, y.Text))
	})
	if drift == nil {
		drift = []intune.Change{}
	}
	raw, _ := json.Marshal(drift)
	out := IntuneCheckResult{Checked: true, Drift: len(drift)}
	data := resultData(res, in.Decision, activity.GetInfo(ctx).Attempt)
	data["drift"] = drift
	if gerr != nil {
		out.Error = gerr.Error()
		data["error"] = out.Error
	}
	info := activity.GetInfo(ctx)
	out.Changed, err = a.Store.RecordIntuneCheck(ctx, store.IntuneCheck{CeremonyID: in.CeremonyID, Drift: raw, Error: out.Error,
		Data: data, Key: "intune/" + in.CeremonyID + "/drift/" + info.WorkflowExecution.RunID, At: time.Now()})
	return out, err
}
