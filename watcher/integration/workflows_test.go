package integration_test

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/watcher/attest"
)

// recordingCeremony stands in for the Ceremony workflow: it keeps the newest
// generation's spec (answering `status` like the real one) and ends on cancel.
// Every signal is in its history, which is what the tests count.
func recordingCeremony(ctx workflow.Context, spec contract.Spec) (contract.State, error) {
	st := contract.State{CeremonyID: spec.ID, Spec: spec, Status: contract.StatusCollecting, OpenedAt: workflow.Now(ctx)}
	if err := workflow.SetQueryHandler(ctx, contract.QueryStatus, func() (contract.State, error) { return st, nil }); err != nil {
		return st, err
	}
	specCh := workflow.GetSignalChannel(ctx, contract.SignalSpecChanged)
	decisionCh := workflow.GetSignalChannel(ctx, contract.SignalSubstrateDecision)
	cancelCh := workflow.GetSignalChannel(ctx, contract.SignalCancel)
	for done := false; !done; {
		if st.Spec.Description == continueAsNew && workflow.GetInfo(ctx).ContinuedExecutionRunID == "" {
			// Long ceremonies continue as new; the watcher must follow the chain.
			return st, workflow.NewContinueAsNewError(ctx, contract.WorkflowType, st.Spec)
		}
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(specCh, func(c workflow.ReceiveChannel, _ bool) {
			var m contract.SpecChanged
			c.Receive(ctx, &m)
			if m.Generation > st.Spec.Generation {
				st.Spec = m.Spec
				st.Spec.Generation = m.Generation
			}
		})
		sel.AddReceive(decisionCh, func(c workflow.ReceiveChannel, _ bool) {
			var m contract.SubstrateDecision
			c.Receive(ctx, &m)
		})
		sel.AddReceive(cancelCh, func(c workflow.ReceiveChannel, _ bool) {
			var m contract.Cancel
			c.Receive(ctx, &m)
			st.Status, st.Reason, done = contract.StatusCancelled, m.Reason, true
		})
		sel.Select(ctx)
	}
	return st, nil
}

// continueAsNew as a spec's description makes recordingCeremony continue as new once.
const continueAsNew = "continue-as-new"

const attestProbeName = "AttestProbe"

// attestProbe schedules the write-back activity by name on its task queue, as
// the Ceremony workflow does.
func attestProbe(ctx workflow.Context, in attest.Input) (attest.Result, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           attest.TaskQueue,
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	var res attest.Result
	err := workflow.ExecuteActivity(ctx, attest.ActivityWrite, in).Get(ctx, &res)
	return res, err
}
