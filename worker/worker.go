// Package worker builds the Temporal worker that runs Ceremony workflows and their
// activities on the guildhall-ceremonies task queue.
package worker

import (
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/workflows"
)

// Options tune the worker; zero values take the SDK defaults.
type Options struct {
	TaskQueue string // default contract.TaskQueue; tests use their own
	sdkworker.Options
}

// New returns a worker with the Ceremony workflow and the activities registered.
// The caller starts and stops it.
func New(c client.Client, acts *activities.Activities, o Options) sdkworker.Worker {
	tq := o.TaskQueue
	if tq == "" {
		tq = contract.TaskQueue
	}
	opts := o.Options
	opts.Interceptors = append([]interceptor.WorkerInterceptor{&failureLog{}}, opts.Interceptors...)
	w := sdkworker.New(c, tq, opts)
	Register(w, acts)
	return w
}

// Register adds the workflow and activities to any registry (a worker, a replayer
// or a test environment), under their contract names.
func Register(r interface {
	RegisterWorkflowWithOptions(any, workflow.RegisterOptions)
	RegisterActivity(any)
}, acts *activities.Activities) {
	RegisterWorkflows(r)
	if acts != nil {
		r.RegisterActivity(acts)
	}
}

// RegisterWorkflows adds only the workflows, under their contract names (for a
// replayer, which runs no activities): Ceremony, and the Graph bridge's
// IntuneDeploy (a sealed ceremony starts it, bridge configured or not: until it
// is, deployments wait) and IntuneDriftCheck.
func RegisterWorkflows(r interface {
	RegisterWorkflowWithOptions(any, workflow.RegisterOptions)
}) {
	r.RegisterWorkflowWithOptions(workflows.Ceremony, workflow.RegisterOptions{Name: contract.WorkflowType})
	r.RegisterWorkflowWithOptions(workflows.IntuneDeploy, workflow.RegisterOptions{Name: contract.WorkflowIntuneDeploy})
	r.RegisterWorkflowWithOptions(workflows.IntuneDriftCheck, workflow.RegisterOptions{Name: contract.WorkflowIntuneDriftCheck})
}
