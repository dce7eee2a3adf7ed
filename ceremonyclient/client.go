// Package ceremonyclient is a typed client for the Ceremony workflow contract. The
// web app, the watcher and the CLI use it instead of spelling workflow, update and
// signal names themselves.
package ceremonyclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
)

// Options configure Dial.
type Options struct {
	Address   string // host:port, default 127.0.0.1:7233
	Namespace string // default "default"
	Identity  string
	// MetricsHandler receives the SDK's metrics (the worker exports them).
	MetricsHandler client.MetricsHandler
}

// Dial connects to Temporal.
func Dial(ctx context.Context, o Options) (client.Client, error) {
	if o.Address == "" {
		o.Address = "127.0.0.1:7233"
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	c, err := client.DialContext(ctx, client.Options{
		HostPort:       o.Address,
		Namespace:      o.Namespace,
		Identity:       o.Identity,
		Logger:         tlog.NewStructuredLogger(slog.Default()),
		MetricsHandler: o.MetricsHandler,
	})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w", o.Address, o.Namespace, err)
	}
	return c, nil
}

// Client makes every call Guildhall makes to Temporal about ceremonies: it opens
// them, sends the contract's messages, asks their state and reads what they
// received. The SDK client it wraps is not handed out.
type Client struct {
	t client.Client
}

// New wraps a Temporal client.
func New(c client.Client) *Client { return &Client{t: c} }

// ErrAlreadyOpen is returned by Open when a ceremony with the same id is running.
// It wraps contract.ErrCeremonyExists.
var ErrAlreadyOpen = fmt.Errorf("%w: one is already open or ended under this id", contract.ErrCeremonyExists)

// ErrNotFound is returned when no workflow exists for the ceremony.
var ErrNotFound = errors.New("no such ceremony")

// StartOptions returns the start options for a ceremony: the derived workflow id,
// the task queue, and the explicit id policies (a running ceremony is never
// replaced, and a finished id is never reused, so one id names one ceremony and one custody trail forever).
func StartOptions(spec contract.Spec) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       contract.WorkflowID(spec.ID),
		TaskQueue:                contract.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// Without this the SDK quietly hands back the running ceremony.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    InitialSearchAttributes(spec),
		Memo:                                     map[string]any{contract.MemoTitle: rules.Title(spec)},
		StaticSummary:                            Summary(spec), // what operators see in the Temporal UI's list
		StaticDetails:                            Details(spec),
	}
}

// InitialSearchAttributes are the attributes a ceremony starts with; the workflow
// keeps them current afterwards.
func InitialSearchAttributes(spec contract.Spec) temporal.SearchAttributes {
	pending := rules.Pending(spec, nil)
	return temporal.NewSearchAttributes(
		temporal.NewSearchAttributeKeyKeyword(contract.SACeremonyStatus).ValueSet(string(contract.StatusCollecting)),
		temporal.NewSearchAttributeKeyKeyword(contract.SACeremonyKind).ValueSet(spec.Kind),
		temporal.NewSearchAttributeKeyKeyword(contract.SAArtifactDigest).ValueSet(spec.Artifact.Digest),
		temporal.NewSearchAttributeKeyKeywordList(contract.SAPendingWitnesses).ValueSet(pending),
		temporal.NewSearchAttributeKeyTime(contract.SACeremonyDeadline).ValueSet(spec.Deadline),
	)
}

// Open starts the ceremony workflow.
func (c *Client) Open(ctx context.Context, spec contract.Spec) (runID string, err error) {
	run, err := c.t.ExecuteWorkflow(ctx, StartOptions(spec), contract.WorkflowType, spec)
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return "", ErrAlreadyOpen
		}
		return "", fmt.Errorf("open ceremony %s: %w", spec.ID, err)
	}
	return run.GetRunID(), nil
}

// Sign sends the `sign` update and waits for its result. A refusal by the workflow
// comes back as *contract.Rejection.
func (c *Client) Sign(ctx context.Context, ceremonyID string, req contract.SignRequest) (contract.State, error) {
	var st contract.State
	h, err := c.t.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		UpdateID:     req.IdempotencyKey,
		WorkflowID:   contract.WorkflowID(ceremonyID),
		UpdateName:   contract.UpdateSign,
		Args:         []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &st)
	}
	if err != nil {
		return st, translate(ceremonyID, err)
	}
	return st, nil
}

// Signal sends a fire-and-forget signal with a contract payload.
func (c *Client) Signal(ctx context.Context, ceremonyID, name string, payload any) error {
	if err := c.t.SignalWorkflow(ctx, contract.WorkflowID(ceremonyID), "", name, payload); err != nil {
		return translate(ceremonyID, err)
	}
	return nil
}

// Status runs the `status` query.
func (c *Client) Status(ctx context.Context, ceremonyID string) (contract.State, error) {
	var st contract.State
	v, err := c.t.QueryWorkflow(ctx, contract.WorkflowID(ceremonyID), "", contract.QueryStatus)
	if err == nil {
		err = v.Get(&st)
	}
	if err != nil {
		return st, translate(ceremonyID, err)
	}
	return st, nil
}

// translate turns Temporal errors into the package's errors and rejections.
func translate(ceremonyID string, err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%w: %s", ErrNotFound, ceremonyID)
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		var details string
		if app.HasDetails() {
			_ = app.Details(&details)
		}
		if details == "" {
			details = app.Message()
		}
		return &contract.Rejection{Code: app.Type(), Reason: details}
	}
	return fmt.Errorf("ceremony %s: %w", ceremonyID, err)
}

// WaitTimeout is a sensible default for calls made on behalf of a person.
const WaitTimeout = 30 * time.Second
