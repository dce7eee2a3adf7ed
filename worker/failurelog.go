package worker

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
)

// failureLog logs every failed try of a local activity. A regular activity's
// failures show in the Temporal UI as a pending activity with its attempt count
// and last error; a local activity retries inside the worker (the signing-path
// Ops DB writes, see workflows/local.go) and would otherwise leave no trace
// until it finally succeeds.
type failureLog struct {
	interceptor.WorkerInterceptorBase
}

func (*failureLog) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &failureLogActivity{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}}
}

type failureLogActivity struct {
	interceptor.ActivityInboundInterceptorBase
}

func (i *failureLogActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	res, err := i.Next.ExecuteActivity(ctx, in)
	if err != nil {
		if info := activity.GetInfo(ctx); info.IsLocalActivity {
			activity.GetLogger(ctx).Warn("local activity failed; retrying", "activity", info.ActivityType.Name,
				"attempt", info.Attempt, "workflowId", info.WorkflowExecution.ID, "error", err)
		}
	}
	return res, err
}
