package ceremonyclient

import (
	"context"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/guildhouse/guildhall/contract"
)

// maxRunChain bounds how far History follows continue-as-new back through earlier
// runs; a ceremony that long-lived is an anomaly worth a retry, not a hang.
const maxRunChain = 64

// History is what a ceremony's workflow has received, across the runs it
// continued through: enough for a sender to know what it already sent.
type History struct {
	Exists  bool
	Running bool
	// Memo holds the string fields of the latest run's memo, and for fields it
	// lacks, the newest run's start memo that has them (a run started by
	// continue-as-new need not carry the first run's memo).
	Memo map[string]string
	// SignalKeys are the idempotency keys of every signal the runs received.
	SignalKeys map[string]bool
}

// History describes the latest run of the ceremony's workflow and reads every
// run's history back to the first. A ceremony never opened has Exists false.
func (c *Client) History(ctx context.Context, ceremonyID string) (History, error) {
	wid := contract.WorkflowID(ceremonyID)
	desc, err := c.t.DescribeWorkflowExecution(ctx, wid, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return History{}, nil
	}
	if err != nil {
		return History{}, fmt.Errorf("describe %s: %w", wid, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	h := History{
		Exists:     true,
		Running:    info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
		Memo:       memoStrings(info.GetMemo()),
		SignalKeys: map[string]bool{},
	}
	runID := info.GetExecution().GetRunId()
	for range maxRunChain {
		prev, memo, err := c.runSignals(ctx, wid, runID, h.SignalKeys)
		if err != nil {
			return History{}, err
		}
		for k, v := range memo {
			if _, ok := h.Memo[k]; !ok {
				h.Memo[k] = v
			}
		}
		if prev == "" {
			return h, nil
		}
		runID = prev
	}
	return History{}, fmt.Errorf("workflow %s continued as new more than %d times", wid, maxRunChain)
}

// runSignals adds one run's signal keys to into and returns the run it continued
// from, if any, and its start memo.
func (c *Client) runSignals(ctx context.Context, wid, runID string, into map[string]bool) (prev string, memo map[string]string, err error) {
	it := c.t.GetWorkflowHistory(ctx, wid, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return "", nil, fmt.Errorf("read history of %s run %s: %w", wid, runID, err)
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			a := ev.GetWorkflowExecutionStartedEventAttributes()
			prev, memo = a.GetContinuedExecutionRunId(), memoStrings(a.GetMemo())
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			if k := signalKey(ev.GetWorkflowExecutionSignaledEventAttributes().GetInput()); k != "" {
				into[k] = true
			}
		}
	}
	return prev, memo, nil
}

// signalKey reads the idempotencyKey every contract payload carries.
func signalKey(in *commonpb.Payloads) string {
	ps := in.GetPayloads()
	if len(ps) == 0 {
		return ""
	}
	var v struct {
		IdempotencyKey string `json:"idempotencyKey"`
	}
	if err := converter.GetDefaultDataConverter().FromPayload(ps[0], &v); err != nil {
		return ""
	}
	return v.IdempotencyKey
}

// memoStrings decodes the string fields of a memo; others are left out.
func memoStrings(m *commonpb.Memo) map[string]string {
	out := map[string]string{}
	for k, p := range m.GetFields() {
		var s string
		if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err == nil {
			out[k] = s
		}
	}
	return out
}

// SignalWithStart starts the ceremony's workflow with StartOptions plus memo, or
// signals the running one with msg as `spec-changed`: the conflict policy is
// use-existing, because the point is to reach whichever run holds the id. An id
// a closed run used is never reused: the error wraps ErrAlreadyOpen.
func (c *Client) SignalWithStart(ctx context.Context, spec contract.Spec, memo map[string]any, msg contract.SpecChanged) error {
	opts := StartOptions(spec)
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	for k, v := range memo {
		opts.Memo[k] = v
	}
	_, err := c.t.SignalWithStartWorkflow(ctx, opts.ID, contract.SignalSpecChanged, msg, opts, contract.WorkflowType, spec)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return fmt.Errorf("%w: %s", ErrAlreadyOpen, opts.ID)
	}
	if err != nil {
		return fmt.Errorf("start or signal %s: %w", opts.ID, err)
	}
	return nil
}

// Execution is one ceremony workflow in a list.
type Execution struct {
	CeremonyID string
	Running    bool
	Memo       map[string]string
}

// List pages through the Ceremony workflows a visibility query matches (the
// query is ANDed with the workflow type), e.g. "ExecutionStatus = 'Running'" or
// "CeremonyStatus = 'quorum_reached'".
func (c *Client) List(ctx context.Context, query string) ([]Execution, error) {
	q := fmt.Sprintf("WorkflowType = '%s'", contract.WorkflowType)
	if query != "" {
		q += " AND (" + query + ")"
	}
	var out []Execution
	var token []byte
	for {
		resp, err := c.t.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, NextPageToken: token, PageSize: 500})
		if err != nil {
			return nil, fmt.Errorf("list %s workflows where %s: %w", contract.WorkflowType, query, err)
		}
		for _, e := range resp.GetExecutions() {
			if id, ok := contract.CeremonyIDFromWorkflowID(e.GetExecution().GetWorkflowId()); ok {
				out = append(out, Execution{CeremonyID: id, Running: e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
					Memo: memoStrings(e.GetMemo())})
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}
