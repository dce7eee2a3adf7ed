package bench

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/contract"
)

// The baseline is bare Temporal: a minimal workflow with one validated update
// handler and no activities, started and signed exactly like a ceremony (same
// server, same worker options, same payload, same concurrency), so the ratio
// between the two measures what Guildhall adds on top of Temporal: the HTTP API,
// authentication, statement checks, the Ops DB write and the custody chain.
const (
	BaselineWorkflowType = "GuildhallBenchBaseline"
	BaselineTaskQueue    = "guildhall-bench-baseline"
)

// BaselineWorkflow accepts one `sign` update per witness, refusing strangers
// and repeats in its validator like the Ceremony workflow, and stays open after
// the last one (as a ceremony waits in quorum_reached) until terminated.
func BaselineWorkflow(ctx workflow.Context, witnesses []string) (int, error) {
	known := make(map[string]bool, len(witnesses))
	for _, w := range witnesses {
		known[w] = true
	}
	signed := map[string]bool{}
	err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateSign,
		func(ctx workflow.Context, req contract.SignRequest) (int, error) {
			signed[req.WitnessID] = true
			return len(signed), nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req contract.SignRequest) error {
			switch {
			case !known[req.WitnessID]:
				return temporal.NewNonRetryableApplicationError("not a witness", "unknown_witness", nil)
			case signed[req.WitnessID]:
				return temporal.NewNonRetryableApplicationError("already signed", "already_signed", nil)
			}
			return nil
		}})
	if err != nil {
		return 0, err
	}
	_ = workflow.Await(ctx, func() bool { return false })
	return len(signed), nil
}

// NewBaselineWorker returns a worker for the baseline workflow with the given
// options (pass the Guildhall worker's options).
func NewBaselineWorker(c client.Client, o sdkworker.Options) sdkworker.Worker {
	w := sdkworker.New(c, BaselineTaskQueue, o)
	w.RegisterWorkflowWithOptions(BaselineWorkflow, workflow.RegisterOptions{Name: BaselineWorkflowType})
	return w
}

func baselineWorkflowID(ceremonyID string) string { return "bench-baseline/" + ceremonyID }

// startBaseline starts one baseline workflow and waits until its first workflow
// task has run (the update handler is registered), as ceremonies are waited for.
func startBaseline(ctx context.Context, c client.Client, id string, witnesses []string) error {
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: baselineWorkflowID(id), TaskQueue: BaselineTaskQueue,
	}, BaselineWorkflowType, witnesses)
	if err != nil {
		return fmt.Errorf("start baseline %s: %w", id, err)
	}
	_ = run
	return nil
}

// signBaseline sends the update and waits for its result, like ceremonyclient.Sign.
func signBaseline(ctx context.Context, c client.Client, id string, req contract.SignRequest) error {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		UpdateID: req.IdempotencyKey, WorkflowID: baselineWorkflowID(id), UpdateName: contract.UpdateSign,
		Args: []any{req}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return err
	}
	var n int
	return h.Get(ctx, &n)
}

var errNotReady = errors.New("not ready")
