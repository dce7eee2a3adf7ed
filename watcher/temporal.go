package watcher

import (
	"context"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/watcher/crd"
)

// Memo fields the watcher adds to the workflows it starts. MemoUID ties a workflow
// to one Ceremony resource, so a re-created resource of the same name is told
// apart from the one the workflow was opened for.
const (
	MemoUID    = "k8sUID"
	MemoSource = "source"
)

// maxRunChain bounds how far Lookup follows continue-as-new back through earlier
// runs; a ceremony that long-lived is an anomaly worth a retry, not a hang.
const maxRunChain = 64

// TemporalWorkflows implements Workflows with the typed ceremony client.
type TemporalWorkflows struct {
	C *ceremonyclient.Client
	// DataConverter decodes signal payloads from history; default: the SDK's.
	DataConverter converter.DataConverter
}

func (t *TemporalWorkflows) dc() converter.DataConverter {
	if t.DataConverter != nil {
		return t.DataConverter
	}
	return converter.GetDefaultDataConverter()
}

// Lookup describes the latest run of the ceremony's workflow and collects the
// idempotency keys of all signals it (and the runs it continued from) received.
func (t *TemporalWorkflows) Lookup(ctx context.Context, ceremonyID string) (Ledger, error) {
	wid := contract.WorkflowID(ceremonyID)
	desc, err := t.C.T.DescribeWorkflowExecution(ctx, wid, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return Ledger{}, nil
	}
	if err != nil {
		return Ledger{}, fmt.Errorf("describe %s: %w", wid, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	led := Ledger{
		Exists:  true,
		Running: info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
		UID:     t.memoString(info.GetMemo(), MemoUID),
		Sent:    map[string]bool{},
	}
	// The UID is also read from each run's start event: a run started by
	// continue-as-new need not carry the first run's memo.
	uid, err := t.collectKeys(ctx, wid, info.GetExecution().GetRunId(), led.Sent)
	if err != nil {
		return Ledger{}, err
	}
	if led.UID == "" {
		led.UID = uid
	}
	return led, nil
}

// collectKeys walks back from runID through the runs it continued from, adding
// their signal keys to into, and returns the first watcher UID found in a run's memo.
func (t *TemporalWorkflows) collectKeys(ctx context.Context, wid, runID string, into map[string]bool) (string, error) {
	uid := ""
	for range maxRunChain {
		prev, runUID, err := t.runKeys(ctx, wid, runID, into)
		if err != nil {
			return "", err
		}
		if uid == "" {
			uid = runUID
		}
		if prev == "" {
			return uid, nil
		}
		runID = prev
	}
	return "", fmt.Errorf("workflow %s continued as new more than %d times", wid, maxRunChain)
}

// runKeys adds one run's signal keys to into and returns the run it continued
// from, if any, and the UID in its start memo.
func (t *TemporalWorkflows) runKeys(ctx context.Context, wid, runID string, into map[string]bool) (prev, uid string, err error) {
	it := t.C.T.GetWorkflowHistory(ctx, wid, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return "", "", fmt.Errorf("read history of %s run %s: %w", wid, runID, err)
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			a := ev.GetWorkflowExecutionStartedEventAttributes()
			prev, uid = a.GetContinuedExecutionRunId(), t.memoString(a.GetMemo(), MemoUID)
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			if k := t.signalKey(ev.GetWorkflowExecutionSignaledEventAttributes()); k != "" {
				into[k] = true
			}
		}
	}
	return prev, uid, nil
}

// signalKey reads the idempotencyKey every contract payload carries.
func (t *TemporalWorkflows) signalKey(a *historypb.WorkflowExecutionSignaledEventAttributes) string {
	ps := a.GetInput().GetPayloads()
	if len(ps) == 0 {
		return ""
	}
	var v struct {
		IdempotencyKey string `json:"idempotencyKey"`
	}
	if err := t.dc().FromPayload(ps[0], &v); err != nil {
		return ""
	}
	return v.IdempotencyKey
}

func (t *TemporalWorkflows) memoString(m *commonpb.Memo, field string) string {
	p := m.GetFields()[field]
	if p == nil {
		return ""
	}
	var s string
	if err := t.dc().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}

// SignalWithStart starts the workflow with ceremonyclient's start options (id,
// task queue, id reuse policy, search attributes) plus the watcher's memo, or
// signals the running one: the conflict policy is use-existing, because the
// point of SignalWithStart is to reach whichever run holds the id.
func (t *TemporalWorkflows) SignalWithStart(ctx context.Context, spec contract.Spec, uid string, msg contract.SpecChanged) error {
	opts := ceremonyclient.StartOptions(spec)
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	if opts.Memo == nil {
		opts.Memo = map[string]any{}
	}
	opts.Memo[MemoUID] = uid
	opts.Memo[MemoSource] = crd.Source
	_, err := t.C.T.SignalWithStartWorkflow(ctx, opts.ID, contract.SignalSpecChanged, msg, opts, contract.WorkflowType, spec)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return fmt.Errorf("%w: %s", ErrIDTaken, opts.ID)
	}
	return err
}

// Signal sends a signal to the latest run.
func (t *TemporalWorkflows) Signal(ctx context.Context, ceremonyID, name string, payload any) error {
	err := t.C.Signal(ctx, ceremonyID, name, payload)
	if errors.Is(err, ceremonyclient.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrClosed, ceremonyID)
	}
	return err
}

// ListOpen pages through running Ceremony workflows and keeps those the watcher
// started (they carry MemoUID).
func (t *TemporalWorkflows) ListOpen(ctx context.Context) ([]OpenCeremony, error) {
	query := fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", contract.WorkflowType)
	var out []OpenCeremony
	var token []byte
	for {
		resp, err := t.C.T.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token, PageSize: 500})
		if err != nil {
			return nil, fmt.Errorf("list running %s workflows: %w", contract.WorkflowType, err)
		}
		for _, e := range resp.GetExecutions() {
			id, ok := contract.CeremonyIDFromWorkflowID(e.GetExecution().GetWorkflowId())
			uid := t.memoString(e.GetMemo(), MemoUID)
			if ok && uid != "" {
				out = append(out, OpenCeremony{CeremonyID: id, UID: uid})
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}
