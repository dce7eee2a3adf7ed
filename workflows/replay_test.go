package workflows_test

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/intune"
	"github.com/guildhouse/guildhall/intune/intunetest"
	"github.com/guildhouse/guildhall/notify"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
	"github.com/guildhouse/guildhall/worker"
	"github.com/guildhouse/guildhall/workflows"
)

var update = flag.Bool("update", false, "capture the replay histories in testdata/ from a real Temporal dev server")

// replayPaths are the lifecycle paths whose histories must be replayable. Each
// is captured by the scenario of the same name in captureScenarios.
var replayPaths = []string{
	"quorum-sealed", "veto", "impossible", "expiry-with-reminders", "amendments",
	"cancel", "temporal-cancel", "substrate-timeout", "continue-as-new-run1", "continue-as-new-run2",
	"signed-statement", "directory-template", "cluster",
	"intune-sealed", "intune-deploy", "intune-drift-check", "intune-revoke",
}

// Histories recorded by earlier versions of the workflow are kept as
// testdata/history-v<N>-<path>.json for as long as the code keeps their
// GetVersion branches; they are replayed too. v0 predates "witness-keys", v1
// predates "local-activities", v2 predates "one-rule-set", v3 predates
// "directory-assurance", and "live-attestation" (which reaches only the cluster
// path, so only it has a v3 of its own); v4 predates "intune-bridge".

// TestReplayHistories replays every captured history against the current
// workflow code. A failure means the change would break ceremonies that are
// running now: put it behind workflow.GetVersion (ARCHITECTURE.md, "Changing
// the workflow"). `go test ./workflows -run TestReplayHistories -update`
// captures the histories again from a real dev server.
func TestReplayHistories(t *testing.T) {
	if *update {
		captureHistories(t)
	}
	replayer := sdkworker.NewWorkflowReplayer()
	worker.RegisterWorkflows(replayer)
	logger := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	for _, name := range replayPaths {
		path := filepath.Join("testdata", "history-"+name+".json")
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("missing history %s: run go test ./workflows -run TestReplayHistories -update", path)
		}
	}
	files, err := filepath.Glob(filepath.Join("testdata", "history-*.json"))
	if err != nil || len(files) < len(replayPaths) {
		t.Fatalf("histories: %v %v", files, err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "history-"), ".json"), func(t *testing.T) {
			if err := replayer.ReplayWorkflowHistoryFromJSONFile(logger, path); err != nil {
				t.Fatalf("%s does not replay: %v", path, err)
			}
		})
	}
}

type capture struct {
	t  *testing.T
	c  client.Client
	cc *ceremonyclient.Client
	tq string
}

func (cp *capture) open(id string, mutate func(*contract.Spec), carried *workflows.Continued) (contract.Spec, client.WorkflowRun) {
	cp.t.Helper()
	spec := testSpec()
	spec.ID = "replay/" + id
	spec.Deadline = time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if mutate != nil {
		mutate(&spec)
	}
	opts := ceremonyclient.StartOptions(spec)
	opts.TaskQueue = cp.tq
	args := []any{spec}
	if carried != nil {
		args = append(args, carried)
	}
	run, err := cp.c.ExecuteWorkflow(context.Background(), opts, contract.WorkflowType, args...)
	if err != nil {
		cp.t.Fatal(err)
	}
	return spec, run
}

func (cp *capture) sign(spec contract.Spec, witness string, d contract.Decision, key string) {
	cp.t.Helper()
	if _, err := cp.cc.Sign(context.Background(), spec.ID, contract.SignRequest{IdempotencyKey: key, WitnessID: witness, Decision: d}); err != nil {
		cp.t.Fatalf("sign %s on %s: %v", witness, spec.ID, err)
	}
}

func (cp *capture) signal(spec contract.Spec, name string, payload any) {
	cp.t.Helper()
	if err := cp.cc.Signal(context.Background(), spec.ID, name, payload); err != nil {
		cp.t.Fatal(err)
	}
}

// save waits for the run to end and writes its history.
func (cp *capture) save(name string, run client.WorkflowRun, runID string, want contract.Status) {
	cp.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if runID == "" {
		var st contract.State
		if err := run.Get(ctx, &st); err != nil {
			cp.t.Fatalf("%s: %v", name, err)
		}
		if st.Status != want {
			cp.t.Fatalf("%s ended %s, want %s", name, st.Status, want)
		}
		runID = run.GetRunID()
	}
	var events []*historypb.HistoryEvent
	it := cp.c.GetWorkflowHistory(ctx, run.GetID(), runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			cp.t.Fatal(err)
		}
		if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED &&
			e.GetWorkflowTaskFailedEventAttributes().GetCause() != enumspb.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND {
			cp.t.Fatalf("%s: a workflow task failed: %v", name, e)
		}
		events = append(events, e)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: " "}.Marshal(&historypb.History{Events: events})
	if err != nil {
		cp.t.Fatal(err)
	}
	path := filepath.Join("testdata", "history-"+name+".json")
	if err := os.WriteFile(path, append(bytes.TrimSpace(b), '\n'), 0o644); err != nil {
		cp.t.Fatal(err)
	}
	cp.t.Logf("captured %s: %d events", path, len(events))
}

// saveRun waits for a run of any workflow to succeed and writes its history.
func (cp *capture) saveRun(name string, run client.WorkflowRun) {
	cp.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run.Get(ctx, nil); err != nil {
		cp.t.Fatalf("%s: %v", name, err)
	}
	cp.save(name, run, run.GetRunID(), "")
}

func captureHistories(t *testing.T) {
	srv, err := testenv.StartDevServer(context.Background(), testenv.DevServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c, err := srv.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := storetest.SQLite(t)
	rec := &notify.Recorder{Log: slog.New(slog.DiscardHandler)}
	fake := intunetest.New(t)
	graph, err := intune.New(fake.Config())
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(c, &activities.Activities{Store: s, Notifiers: []notify.Notifier{rec}, Graph: graph}, worker.Options{TaskQueue: "replay-capture"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	cp := &capture{t: t, c: c, cc: ceremonyclient.New(c), tq: "replay-capture"}

	// Quorum, then the substrate seals it; a duplicate key on the way.
	spec, run := cp.open("quorum-sealed", nil, nil)
	cp.sign(spec, "alice", contract.Approve, "a1")
	cp.sign(spec, "alice", contract.Approve, "a1")
	cp.signal(spec, contract.SignalWitnessSignature, contract.SignRequest{IdempotencyKey: "b1", WitnessID: "bob", Decision: contract.Approve})
	waitStatus(t, cp.cc, spec.ID, contract.StatusQuorumReached)
	cp.signal(spec, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d1", Phase: "Sealed"})
	cp.save("quorum-sealed", run, "", contract.StatusSealed)

	// A veto role rejects.
	spec, run = cp.open("veto", func(s *contract.Spec) {
		s.Quorum = contract.Quorum{Threshold: 2, Roles: map[string]int{"security": 1}, Veto: []string{"security"}}
	}, nil)
	cp.sign(spec, "bob", contract.Approve, "b1")
	cp.sign(spec, "alice", contract.Reject, "a1")
	cp.save("veto", run, "", contract.StatusRejected)

	// The quorum becomes impossible.
	spec, run = cp.open("impossible", func(s *contract.Spec) { s.Quorum.Threshold = 3 }, nil)
	cp.sign(spec, "carol", contract.Reject, "c1")
	cp.save("impossible", run, "", contract.StatusRejected)

	// Reminders at 50/80/95% of an eight-second window, then expiry.
	spec, run = cp.open("expiry-with-reminders", func(s *contract.Spec) { s.Deadline = time.Now().Add(8 * time.Second) }, nil)
	cp.sign(spec, "alice", contract.Approve, "a1")
	cp.save("expiry-with-reminders", run, "", contract.StatusExpired)

	// Amendments: add a witness and extend (kept), a stale generation, remove a
	// witness after quorum (back to collecting), change the digest (all voided),
	// sign again, seal.
	spec, run = cp.open("amendments", nil, nil)
	cp.sign(spec, "alice", contract.Approve, "a1")
	g2 := spec
	g2.Witnesses = append(append([]contract.WitnessRef{}, spec.Witnesses...), contract.WitnessRef{ID: "dave", Role: "legal"})
	g2.Deadline = spec.Deadline.Add(time.Hour)
	cp.signal(spec, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s2", Generation: 2, Spec: g2})
	cp.signal(spec, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s1", Generation: 1, Spec: spec})
	cp.sign(spec, "bob", contract.Approve, "b1")
	g3 := g2
	g3.Witnesses = []contract.WitnessRef{{ID: "alice", Role: "security"}, {ID: "carol", Role: "release"}, {ID: "dave", Role: "legal"}}
	cp.signal(spec, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s3", Generation: 3, Spec: g3})
	g4 := g3
	g4.Artifact.Digest = "sha256:" + strings.Repeat("ab", 32)
	cp.signal(spec, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s4", Generation: 4, Spec: g4})
	waitGeneration(t, cp.cc, spec.ID, 4)
	cp.sign(spec, "alice", contract.Approve, "a2")
	cp.sign(spec, "dave", contract.Approve, "d2")
	cp.signal(spec, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d1", Phase: "Sealed", Generation: 4})
	cp.save("amendments", run, "", contract.StatusSealed)

	// Cancelled by signal, after a signature and a garbage message.
	spec, run = cp.open("cancel", nil, nil)
	cp.sign(spec, "alice", contract.Approve, "a1")
	cp.signal(spec, contract.SignalWitnessSignature, map[string]any{"witnessId": 42})
	cp.signal(spec, contract.SignalCancel, contract.Cancel{IdempotencyKey: "c1", By: "ivy", Reason: "wrong artifact"})
	cp.save("cancel", run, "", contract.StatusCancelled)

	// Cancelled by a Temporal cancellation request (temporal workflow cancel).
	spec, run = cp.open("temporal-cancel", nil, nil)
	cp.sign(spec, "alice", contract.Approve, "a1")
	if err := c.CancelWorkflow(context.Background(), contract.WorkflowID(spec.ID), ""); err != nil {
		t.Fatal(err)
	}
	cp.save("temporal-cancel", run, "", contract.StatusCancelled)

	// Quorum, the substrate stays silent past the decision timeout (flagged),
	// then seals.
	spec, run = cp.open("substrate-timeout", nil, &workflows.Continued{Tuning: workflows.Tuning{DecisionTimeout: 2 * time.Second}})
	cp.sign(spec, "alice", contract.Approve, "a1")
	cp.sign(spec, "bob", contract.Approve, "b1")
	testenv.Eventually(t, 20*time.Second, "the capture scenario's next step", func() bool {
		st, err := cp.cc.Status(context.Background(), spec.ID)
		return err == nil && st.Attention == contract.AttentionSubstrateTimeout
	})
	cp.signal(spec, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d1", Phase: "Sealed"})
	cp.save("substrate-timeout", run, "", contract.StatusSealed)

	// A witness with a registered key signs a statement; a forged one is refused.
	priv := registerKey(t, s, "alice", 1)
	spec, run = cp.open("signed-statement", nil, nil)
	req := signedReq(spec, "alice", contract.Approve, "a1", time.Now(), priv)
	if _, err := cp.cc.Sign(context.Background(), spec.ID, req); err != nil {
		t.Fatal(err)
	}
	forged := signedReq(spec, "bob", contract.Approve, "b0", time.Now(), priv)
	if _, err := cp.cc.Sign(context.Background(), spec.ID, forged); err == nil || !strings.Contains(err.Error(), "bad_signature") {
		t.Fatalf("statement for bob signed with alice's key: %v, want bad_signature", err)
	}
	cp.sign(spec, "bob", contract.Approve, "b1")
	cp.signal(spec, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d1", Phase: "Sealed"})
	cp.save("signed-statement", run, "", contract.StatusSealed)
	storetest.RemoveKeys(t, s, "alice")

	// The directory: a spec naming a template is completed from it at opening; a
	// vouched (session) signature, an operator one, a deactivated pending
	// witness flagged and then reactivated, and a minAssurance refusal.
	for _, p := range []store.NewPerson{{ID: "ivy", Roles: []string{"initiator"}}, {ID: "alice", Roles: []string{"security"}},
		{ID: "bob", Roles: []string{"release"}}, {ID: "carol", Roles: []string{"release"}}} {
		if err := s.EnsureWitness(context.Background(), p, "capture"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.ApplyTemplate(context.Background(), rules.Template{Name: "release", Kind: contract.KindRelease,
		Witnesses: rules.TemplateWitnesses{Roles: []string{"security", "release"}},
		Quorum:    contract.Quorum{Threshold: 3, MinAssurance: contract.AssuranceSession}, OpenedBy: []string{"initiator"}}, "capture"); err != nil {
		t.Fatal(err)
	}
	web := webKey(t, s, strings.Repeat("s", 32))
	spec, run = cp.open("directory-template", func(s *contract.Spec) {
		s.Witnesses, s.Quorum, s.Template = nil, contract.Quorum{}, &contract.TemplateRef{Name: "release"}
	}, nil)
	waitStatus(t, cp.cc, spec.ID, contract.StatusCollecting)
	if _, err := cp.cc.Sign(context.Background(), spec.ID, vouched(t, web, spec.ID,
		contract.SignRequest{IdempotencyKey: "a1", WitnessID: "alice", Decision: contract.Approve}, contract.AssuranceSession, "oidc")); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.cc.Sign(context.Background(), spec.ID, contract.SignRequest{IdempotencyKey: "b1", WitnessID: "bob", Decision: contract.Approve}); err == nil {
		t.Fatal("an operator signature passed minAssurance session")
	}
	cp.signal(spec, contract.SignalDirectoryChanged, contract.DirectoryChanged{IdempotencyKey: "dc1", WitnessID: "carol", Deactivated: true, By: "ada"})
	cp.signal(spec, contract.SignalDirectoryChanged, contract.DirectoryChanged{IdempotencyKey: "dc2", WitnessID: "carol", Deactivated: false, By: "ada"})
	cp.signal(spec, contract.SignalCancel, contract.Cancel{IdempotencyKey: "c1", By: "ivy", Reason: "capture done"})
	cp.save("directory-template", run, "", contract.StatusCancelled)

	captureCluster(cp)

	// The Graph bridge: a release with an Intune target is sealed and starts its
	// IntuneDeploy child (captured too); an assignment is changed behind
	// Guildhall's back and the drift check finds it; the artifact is revoked
	// and the withdrawal runs.
	app := "0177548a-548a-0177-8a54-77018a547701"
	fake.AddApp(intunetest.App{ID: app, DisplayName: "Guildhall agent"})
	target := &contract.IntuneTarget{AppID: app, OnRevoke: contract.IntuneRevokeUninstall, Groups: []contract.IntuneGroup{
		{GroupID: "11111111-2222-3333-4444-555555555555", Intent: contract.IntuneRequired},
		{GroupID: "22222222-3333-4444-5555-666666666666", Intent: contract.IntuneAvailable}}}
	spec, run = cp.open("intune-sealed", func(s *contract.Spec) {
		s.Intune, s.Artifact.Digest = target, "sha256:"+strings.Repeat("1e", 32)
	}, nil)
	cp.sign(spec, "alice", contract.Approve, "a1")
	cp.sign(spec, "bob", contract.Approve, "b1")
	cp.signal(spec, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d1", Phase: "Sealed"})
	cp.save("intune-sealed", run, "", contract.StatusSealed)
	deploy := c.GetWorkflow(context.Background(), contract.IntuneWorkflowID(spec.ID, contract.IntuneReleased), "")
	cp.saveRun("intune-deploy", deploy)
	fake.ChangeIntent(app, target.Groups[0].GroupID, "available")
	drift, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: "replay/intune-drift-check", TaskQueue: cp.tq},
		contract.WorkflowIntuneDriftCheck)
	if err != nil {
		t.Fatal(err)
	}
	cp.saveRun("intune-drift-check", drift)
	if _, err := s.TransitionArtifact(context.Background(), store.Transition{Digest: spec.Artifact.Digest, To: store.ArtifactRevoked, Actor: "capture"}); err != nil {
		t.Fatal(err)
	}
	revoke, err := cp.cc.StartIntuneOn(context.Background(), cp.tq, contract.IntuneJob{CeremonyID: spec.ID, Decision: contract.IntuneRevoked,
		Digest: spec.Artifact.Digest, Cause: contract.IntuneCauseRevoked, By: "chronicle:capture"})
	if err != nil {
		t.Fatal(err)
	}
	cp.saveRun("intune-revoke", c.GetWorkflow(context.Background(), revoke.WorkflowID, revoke.RunID))

	// Continue-as-new after three messages (the test hook), then finish in run 2.
	spec, run = cp.open("continue-as-new", nil, &workflows.Continued{Tuning: workflows.Tuning{ContinueAsNewAfter: 3}})
	cp.sign(spec, "alice", contract.Approve, "a1")
	cp.signal(spec, contract.SignalWitnessSignature, contract.SignRequest{IdempotencyKey: "m1", WitnessID: "mallory", Decision: contract.Approve})
	cp.signal(spec, contract.SignalWitnessSignature, map[string]any{"idempotencyKey": "m2"})
	testenv.Eventually(t, 20*time.Second, "the capture scenario's next step", func() bool {
		d, err := c.DescribeWorkflowExecution(context.Background(), run.GetID(), "")
		return err == nil && d.WorkflowExecutionInfo.Execution.RunId != run.GetRunID()
	})
	cp.sign(spec, "alice", contract.Approve, "a1") // answered from the carried keys
	cp.sign(spec, "bob", contract.Approve, "b1")
	cp.signal(spec, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d1", Phase: "Sealed"})
	last := c.GetWorkflow(context.Background(), run.GetID(), "")
	cp.save("continue-as-new-run1", run, run.GetRunID(), "")
	cp.save("continue-as-new-run2", last, "", contract.StatusSealed)
}

func waitStatus(t *testing.T, cc *ceremonyclient.Client, id string, want contract.Status) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, "the capture scenario's next step", func() bool {
		st, err := cc.Status(context.Background(), id)
		return err == nil && st.Status == want
	})
}

func waitGeneration(t *testing.T, cc *ceremonyclient.Client, id string, gen int64) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, "the capture scenario's next step", func() bool {
		st, err := cc.Status(context.Background(), id)
		return err == nil && st.Generation == gen
	})
}
