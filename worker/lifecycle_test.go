package worker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
	"github.com/guildhouse/guildhall/worker"
)

// stackOn runs a worker on its own task queue against srv and an Ops DB, and
// opens ceremonies there.
type testStack struct {
	c  client.Client
	cc *ceremonyclient.Client
	s  *store.Store
	tq string
}

func stackOn(t *testing.T, srv testenv.Temporal, s *store.Store) *testStack {
	t.Helper()
	c, err := srv.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	tq := "it-" + strings.NewReplacer("/", "-").Replace(t.Name())
	w := worker.New(c, &activities.Activities{Store: s}, worker.Options{TaskQueue: tq})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return &testStack{c: c, cc: ceremonyclient.New(c), s: s, tq: tq}
}

// open starts the ceremony on the stack's task queue; tuning, when given, is
// the workflow's second argument (workflows.Continued with test timings).
func (ts *testStack) open(t *testing.T, spec contract.Spec, tuning ...any) client.WorkflowRun {
	t.Helper()
	opts := ceremonyclient.StartOptions(spec)
	opts.TaskQueue = ts.tq
	run, err := ts.c.ExecuteWorkflow(context.Background(), opts, contract.WorkflowType, append([]any{spec}, tuning...)...)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// noWorkflowTaskFailed checks a run's history for failed workflow tasks. An
// UnhandledCommand failure is the server refusing to close a run while a new
// signal is waiting (it hands the task back with the signal): Temporal's normal
// race at continue-as-new or completion, not a failure of the workflow code.
func noWorkflowTaskFailed(t *testing.T, c client.Client, workflowID, runID string) {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED &&
			e.GetWorkflowTaskFailedEventAttributes().GetCause() != enumspb.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND {
			t.Fatalf("workflow task failed: %v", e.GetWorkflowTaskFailedEventAttributes())
		}
	}
}

// TestGarbageSignalsThenCompletes sends every kind of bad payload through a real
// dev server; each is recorded as rejected, no workflow task fails, and the
// ceremony then completes normally.
func TestGarbageSignalsThenCompletes(t *testing.T) {
	ts := stackOn(t, dev, storetest.Postgres(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := "it/garbage"
	run := ts.open(t, spec(id))
	wid := contract.WorkflowID(id)
	garbage := []struct {
		name    string
		payload any
	}{
		{contract.SignalWitnessSignature, []byte{0xff, 0xfe, 0x00}}, // binary/plain
		{contract.SignalWitnessSignature, "just a string"},
		{contract.SignalWitnessSignature, 42},
		{contract.SignalWitnessSignature, nil},
		{contract.SignalWitnessSignature, map[string]any{"idempotencyKey": 7, "witnessId": []int{1}}},
		{contract.SignalWitnessSignature, map[string]any{"idempotencyKey": "g1", "witnessId": "alice", "decision": "approve", "colour": "red"}},
		{contract.SignalWitnessSignature, map[string]any{"idempotencyKey": "g2", "witnessId": "", "decision": "approve"}},
		{contract.SignalWitnessSignature, map[string]any{"idempotencyKey": "g3", "witnessId": "alice", "decision": "approve", "comment": strings.Repeat("x", 5000)}},
		{contract.SignalSpecChanged, map[string]any{"idempotencyKey": "g4", "generation": "two"}},
		{contract.SignalSpecChanged, map[string]any{"idempotencyKey": "g5", "generation": 2, "spec": map[string]any{"id": id, "witnesses": nil}}},
		{contract.SignalSubstrateDecision, map[string]any{"phase": "Sealed"}},
		{contract.SignalCancel, map[string]any{"idempotencyKey": "g6", "by": ""}},
		{contract.SignalCancel, []any{"by", "operator"}},
	}
	for _, g := range garbage {
		if err := ts.c.SignalWorkflow(ctx, wid, "", g.name, g.payload); err != nil {
			t.Fatalf("signal %s %v: %v", g.name, g.payload, err)
		}
	}
	// The update path refuses garbage before it reaches history.
	h, err := ts.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: wid, UpdateName: contract.UpdateSign,
		Args: []any{map[string]any{"witnessId": true}}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err == nil || !strings.Contains(err.Error(), "invalid") {
		t.Fatalf("garbage update: %v, want an invalid rejection", err)
	}
	if _, err := ts.cc.Sign(ctx, id, contract.SignRequest{IdempotencyKey: "a1", WitnessID: "alice", Decision: contract.Approve}); err != nil {
		t.Fatal(err)
	}
	st, err := ts.cc.Sign(ctx, id, contract.SignRequest{IdempotencyKey: "b1", WitnessID: "bob", Decision: contract.Approve})
	if err != nil || st.Status != contract.StatusQuorumReached {
		t.Fatalf("second sign: %v %s", err, st.Status)
	}
	if err := ts.cc.Signal(ctx, id, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d1", Phase: "Sealed"}); err != nil {
		t.Fatal(err)
	}
	var final contract.State
	if err := run.Get(ctx, &final); err != nil {
		t.Fatalf("workflow did not complete: %v", err)
	}
	if final.Status != contract.StatusSealed || len(final.Rejected) != len(garbage) || final.Approvals != 2 {
		t.Fatalf("final %s approvals %d rejected %d/%d: %+v", final.Status, final.Approvals, len(final.Rejected), len(garbage), final.Rejected)
	}
	noWorkflowTaskFailed(t, ts.c, wid, run.GetRunID())
	// Every search attribute is current, and the memo carries the title.
	sp := spec(id)
	q := fmt.Sprintf("WorkflowId = '%s' AND CeremonyStatus = 'sealed' AND CeremonyKind = 'release' AND ArtifactDigest = '%s' AND CeremonyDeadline BETWEEN '%s' AND '%s' AND PendingWitnesses = 'carol'",
		wid, sp.Artifact.Digest, final.Spec.Deadline.Add(-time.Second).UTC().Format(time.RFC3339), final.Spec.Deadline.Add(time.Second).UTC().Format(time.RFC3339))
	ok := false
	for range 50 {
		if resp, err := ts.c.ListWorkflow(ctx, listReq(q)); err == nil && len(resp.Executions) == 1 {
			ok = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !ok {
		resp, err := ts.c.ListWorkflow(ctx, listReq("WorkflowId = '"+wid+"'"))
		if err == nil && len(resp.Executions) == 1 {
			for k, v := range resp.Executions[0].GetSearchAttributes().GetIndexedFields() {
				t.Logf("%s = %s", k, v.GetData())
			}
		}
		t.Fatalf("search attributes do not match %s (%v)", q, err)
	}
	desc, err := ts.c.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		t.Fatal(err)
	}
	var title string
	if f := desc.WorkflowExecutionInfo.GetMemo().GetFields()[contract.MemoTitle]; f == nil {
		t.Fatal("no title in memo")
	} else if err := converter.GetDefaultDataConverter().FromPayload(f, &title); err != nil || title != "release of app" {
		t.Fatalf("memo title %q %v", title, err)
	}
	// The Temporal UI's list shows the summary set at start, so operators see
	// more than the workflow id.
	var summary string
	if err := converter.GetDefaultDataConverter().FromPayload(desc.GetExecutionConfig().GetUserMetadata().GetSummary(), &summary); err != nil ||
		summary != ceremonyclient.Summary(sp) {
		t.Fatalf("static summary %q (%v), want %q", summary, err, ceremonyclient.Summary(sp))
	}
	events, _ := ts.s.CeremonyCustody(ctx, id)
	rejected := 0
	for _, e := range events {
		if e.Type == "message.rejected" {
			rejected++
		}
	}
	if rejected != len(garbage) {
		t.Fatalf("rejected custody events %d, want %d", rejected, len(garbage))
	}
}

// TestContinueAsNewOnServerSuggestion runs a ceremony on a dev server that
// suggests continue-as-new after 40 history events, sends a burst of signals
// while runs hand over, and checks nothing was lost or counted twice.
func TestContinueAsNewOnServerSuggestion(t *testing.T) {
	srv, err := testenv.StartTemporal(context.Background(), testenv.TemporalOptions{
		DynamicConfig: map[string]string{"limit.historyCount.suggestContinueAsNew": "40"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := stackOn(t, srv, storetest.Postgres(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id := "it/continue-as-new"
	sp := spec(id)
	sp.Quorum.Threshold = 3
	first := ts.open(t, sp)
	wid := contract.WorkflowID(id)
	if _, err := ts.cc.Sign(ctx, id, contract.SignRequest{IdempotencyKey: "a1", WitnessID: "alice", Decision: contract.Approve}); err != nil {
		t.Fatal(err)
	}
	// A burst of refused signals (unknown witnesses), each with its own key,
	// concurrently, so some arrive while a run is handing over.
	const n = 24
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := contract.SignRequest{IdempotencyKey: fmt.Sprintf("x%d", i), WitnessID: fmt.Sprintf("stranger-%d", i), Decision: contract.Approve}
			if err := ts.c.SignalWorkflow(ctx, wid, "", contract.SignalWitnessSignature, req); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Every key resent: duplicates change nothing, in whichever run they land.
	for i := range n {
		req := contract.SignRequest{IdempotencyKey: fmt.Sprintf("x%d", i), WitnessID: fmt.Sprintf("stranger-%d", i), Decision: contract.Approve}
		if err := ts.c.SignalWorkflow(ctx, wid, "", contract.SignalWitnessSignature, req); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 10*time.Second, "the condition", func() bool {
		d, err := ts.c.DescribeWorkflowExecution(ctx, wid, "")
		return err == nil && d.WorkflowExecutionInfo.Execution.RunId != first.GetRunID()
	})
	// The same key as before gets the same answer in the new run.
	st, err := ts.cc.Sign(ctx, id, contract.SignRequest{IdempotencyKey: "a1", WitnessID: "alice", Decision: contract.Approve})
	if err != nil || st.Runs < 2 || len(st.Signatures) != 1 {
		t.Fatalf("repeat in a later run: %v runs %d sigs %d", err, st.Runs, len(st.Signatures))
	}
	for _, w := range []string{"bob", "carol"} {
		if _, err := ts.cc.Sign(ctx, id, contract.SignRequest{IdempotencyKey: w + "1", WitnessID: w, Decision: contract.Approve}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.cc.Signal(ctx, id, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d1", Phase: "Sealed"}); err != nil {
		t.Fatal(err)
	}
	var final contract.State
	if err := ts.c.GetWorkflow(ctx, wid, "").Get(ctx, &final); err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	for _, r := range final.Rejected {
		keys[r.IdempotencyKey]++
	}
	for i := range n {
		if k := fmt.Sprintf("x%d", i); keys[k] != 1 {
			t.Fatalf("refused message %s recorded %d times (runs %d): %v", k, keys[k], final.Runs, keys)
		}
	}
	if final.Status != contract.StatusSealed || final.Approvals != 3 || final.Runs < 2 {
		t.Fatalf("final %s approvals %d runs %d", final.Status, final.Approvals, final.Runs)
	}
	t.Logf("%d runs", final.Runs)
	noWorkflowTaskFailed(t, ts.c, wid, first.GetRunID())
	noWorkflowTaskFailed(t, ts.c, wid, "")
	row, err := ts.s.GetCeremony(ctx, id)
	if err != nil || row.Status != "sealed" || row.Approvals != 3 {
		t.Fatalf("ceremony row %+v %v", row, err)
	}
}
