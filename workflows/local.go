package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// localChange versions running the Ops DB calls on the signing path (loading a
// witness's keys, recording a signature, recording a status) as local
// activities. A regular activity costs three history events and two task-queue
// dispatches per call; a local activity runs inside the workflow task that
// asked for it and leaves one marker, which is what brings a signature's
// latency near bare Temporal's (BENCHMARKS.md). Runs recorded before this
// change (DefaultVersion) keep their regular activities on replay.
const localChange = "local-activities"

// localOptions retry like activityOptions (the same policy): forever, so an Ops
// DB outage delays the record and never loses it. Its longest backoff (10 s) is
// within the workflow task timeout, so the worker retries in place, keeping the
// workflow task open, rather than through server timers.
var localOptions = workflow.LocalActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy:         activityOptions.RetryPolicy,
}

// localEnabled reports whether this run makes its signing-path Ops DB calls as
// local activities, recording the version marker the first time it is asked.
func (c *ceremony) localEnabled(ctx workflow.Context) bool {
	return changed(ctx, localChange, &c.localOn)
}

// execDB runs one signing-path Ops DB activity: locally where localChange is
// on, as a regular activity with actx's options otherwise.
func (c *ceremony) execDB(actx workflow.Context, activity, arg any) workflow.Future {
	if c.localEnabled(actx) {
		return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(actx, localOptions), activity, arg)
	}
	return workflow.ExecuteActivity(actx, activity, arg)
}
