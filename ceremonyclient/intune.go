package ceremonyclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/guildhouse/guildhall/contract"
)

// IntuneStartOptions are the start options of an IntuneDeploy run: its id (one
// per ceremony and decision), a new run once the last has ended, and the run
// already carrying the job out if one is (conflict policy use-existing).
func IntuneStartOptions(job contract.IntuneJob) client.StartWorkflowOptions {
	o := client.StartWorkflowOptions{
		ID:                       contract.IntuneWorkflowID(job.CeremonyID, job.Decision),
		TaskQueue:                contract.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            job.Summary(),
	}
	if job.Digest != "" {
		o.TypedSearchAttributes = temporal.NewSearchAttributes(temporal.NewSearchAttributeKeyKeyword(contract.SAArtifactDigest).ValueSet(job.Digest))
	}
	return o
}

// IntuneRun is a started IntuneDeploy run.
type IntuneRun struct {
	WorkflowID, RunID string
	run               client.WorkflowRun
}

// Wait waits for the run's outcome; v receives it (activities.IntuneOutcome).
func (r IntuneRun) Wait(ctx context.Context, v any) error { return r.run.Get(ctx, v) }

// StartIntune starts carrying a job out (IntuneDeploy) on the ceremonies' task
// queue, or joins the run already doing it.
func (c *Client) StartIntune(ctx context.Context, job contract.IntuneJob) (IntuneRun, error) {
	return c.StartIntuneOn(ctx, contract.TaskQueue, job)
}

// StartIntuneOn is StartIntune on another task queue (tests).
func (c *Client) StartIntuneOn(ctx context.Context, taskQueue string, job contract.IntuneJob) (IntuneRun, error) {
	o := IntuneStartOptions(job)
	o.TaskQueue = taskQueue
	run, err := c.t.ExecuteWorkflow(ctx, o, contract.WorkflowIntuneDeploy, job)
	if err != nil {
		return IntuneRun{}, fmt.Errorf("start the Intune %s of %s: %w", job.Decision, job.CeremonyID, err)
	}
	return IntuneRun{WorkflowID: run.GetID(), RunID: run.GetRunID(), run: run}, nil
}

// DefaultDriftInterval is how often the drift check runs unless configured.
const DefaultDriftInterval = time.Hour

// EnsureIntuneSchedule creates the Temporal Schedule that runs the drift check
// (contract.IntuneDriftSchedule) every interval on taskQueue, or brings an
// existing one to that interval and queue. It reports what it did. Overlapping
// runs are skipped: a slow check is never run twice at once.
func (c *Client) EnsureIntuneSchedule(ctx context.Context, taskQueue string, every time.Duration) (string, error) {
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	action := &client.ScheduleWorkflowAction{
		ID: "intune-drift-check", Workflow: contract.WorkflowIntuneDriftCheck, TaskQueue: taskQueue,
		WorkflowExecutionTimeout: every,
		StaticSummary:            "Graph bridge drift check: compare sealed Intune targets with Intune",
	}
	_, err := c.t.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID: contract.IntuneDriftSchedule, Spec: spec, Action: action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Note:    "kept by the Guildhall worker (GRAPH_DRIFT_INTERVAL)",
	})
	if err == nil {
		return "created", nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return "", fmt.Errorf("create schedule %s: %w", contract.IntuneDriftSchedule, err)
	}
	h := c.t.ScheduleClient().GetHandle(ctx, contract.IntuneDriftSchedule)
	changed := false
	err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		s := in.Description.Schedule
		cur, ok := s.Action.(*client.ScheduleWorkflowAction)
		if ok && cur.TaskQueue == taskQueue && cur.Workflow == action.Workflow && len(s.Spec.Intervals) == 1 && s.Spec.Intervals[0].Every == every {
			return nil, temporal.ErrSkipScheduleUpdate
		}
		changed = true
		s.Spec, s.Action = &spec, action
		return &client.ScheduleUpdate{Schedule: &s}, nil
	}})
	switch {
	case err != nil:
		return "", fmt.Errorf("update schedule %s: %w", contract.IntuneDriftSchedule, err)
	case changed:
		return "updated", nil
	}
	return "unchanged", nil
}

// TriggerIntuneDriftCheck runs the drift check now (as the Temporal UI's
// "Trigger" does).
func (c *Client) TriggerIntuneDriftCheck(ctx context.Context) error {
	h := c.t.ScheduleClient().GetHandle(ctx, contract.IntuneDriftSchedule)
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}); err != nil {
		return fmt.Errorf("trigger schedule %s: %w", contract.IntuneDriftSchedule, err)
	}
	return nil
}
