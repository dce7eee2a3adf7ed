package worker_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/chronicle"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/evidence"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/intune"
	"github.com/guildhouse/guildhall/intune/intunetest"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
	"github.com/guildhouse/guildhall/worker"
	"github.com/guildhouse/guildhall/workflows"
)

// graphStack is a real worker (real activities, Postgres Ops DB) on the test's
// Temporal server with the Graph bridge pointed at an HTTPS fake of Entra and
// Graph.
type graphStack struct {
	c    client.Client
	cc   *ceremonyclient.Client
	s    *store.Store
	fake *intunetest.Server
}

func newGraphStack(t *testing.T) *graphStack {
	t.Helper()
	c, err := dev.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s := storetest.Postgres(t)
	fake := intunetest.New(t)
	cfg := fake.Config()
	// Few tries inside one activity, so an outage shows as activity retries.
	cfg.MaxAttempts, cfg.BaseBackoff = 2, 50*time.Millisecond
	graph, err := intune.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(c, &activities.Activities{Store: s, Graph: graph}, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return &graphStack{c: c, cc: ceremonyclient.New(c), s: s, fake: fake}
}

// release opens a release ceremony with an Intune target for a new app, brings
// it to quorum and has the substrate seal it; it returns the spec once the
// ceremony's workflow has completed, sealed.
func (g *graphStack) release(t *testing.T, id string, onRevoke contract.IntuneRevoke, before func(contract.IntuneTarget)) contract.Spec {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	app := uuid.NewString()
	g.fake.AddApp(intunetest.App{ID: app, DisplayName: "Guildhall agent " + id})
	sp := spec(id)
	sp.Artifact.Digest = fmt.Sprintf("sha256:%064x", len(id)*7919+int(id[len(id)-1]))
	sp.Intune = &contract.IntuneTarget{AppID: app, OnRevoke: onRevoke, Groups: []contract.IntuneGroup{
		{GroupID: uuid.NewString(), Intent: contract.IntuneRequired}, {GroupID: uuid.NewString(), Intent: contract.IntuneAvailable}}}
	if before != nil {
		before(*sp.Intune)
	}
	if _, err := g.cc.Open(ctx, sp); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"alice", "bob"} {
		if _, err := g.cc.Sign(ctx, id, contract.SignRequest{IdempotencyKey: w, WitnessID: w, Decision: contract.Approve}); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.cc.Signal(ctx, id, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "seal", Phase: "Sealed"}); err != nil {
		t.Fatal(err)
	}
	var st contract.State
	if err := g.c.GetWorkflow(ctx, contract.WorkflowID(id), "").Get(ctx, &st); err != nil || st.Status != contract.StatusSealed {
		t.Fatalf("ceremony %s: %v %s", id, err, st.Status)
	}
	return sp
}

// intents are the group assignments Intune holds for the target's app.
func (g *graphStack) intents(target *contract.IntuneTarget) map[string]string {
	out := map[string]string{}
	for _, a := range g.fake.Assignments(target.AppID) {
		if a.TargetType == intune.TypeGroupTarget {
			out[a.GroupID] = a.Intent
		}
	}
	return out
}

func (g *graphStack) waitIntents(t *testing.T, target *contract.IntuneTarget, want func(contract.IntuneGroup) string) {
	t.Helper()
	testenv.Eventually(t, time.Minute, "Intune to hold the decided assignments", func() bool {
		got := g.intents(target)
		for _, gr := range target.Groups {
			if got[gr.GroupID] != want(gr) {
				return false
			}
		}
		return true
	})
}

func (g *graphStack) custodyTypes(t *testing.T, id string) map[string]int {
	t.Helper()
	events, err := g.s.CeremonyCustody(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range events {
		out[e.Type]++
	}
	return out
}

func decided(gr contract.IntuneGroup) string { return string(gr.Intent) }

// From a sealed ceremony on a real Temporal server to the assignments in
// (fake) Intune: the release is carried out once, is in the ceremony's
// evidence bundle, a repeat changes nothing, and a Chronicle revocation
// switches Guildhall's groups to uninstall and leaves everyone else's
// assignment alone.
func TestIntuneReleaseAndRevokeEndToEnd(t *testing.T) {
	g := newGraphStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	others := uuid.NewString()
	id := "it/intune-release"
	sp := g.release(t, id, contract.IntuneRevokeUninstall, func(tg contract.IntuneTarget) {
		g.fake.SetAssignments(tg.AppID, intunetest.Assignment{Intent: "available", TargetType: intune.TypeGroupTarget, GroupID: others})
	})
	g.waitIntents(t, sp.Intune, decided)

	var out activities.IntuneOutcome
	run := g.c.GetWorkflow(ctx, contract.IntuneWorkflowID(id, contract.IntuneReleased), "")
	if err := run.Get(ctx, &out); err != nil || out.Outcome != "applied" || !out.Assigned {
		t.Fatalf("IntuneDeploy: %+v %v", out, err)
	}
	if n := g.fake.Count("POST", "/assign"); n != 1 {
		t.Fatalf("%d assign calls, want 1", n)
	}
	d, err := g.s.GetIntuneDeployment(ctx, id)
	if err != nil || d.State != store.IntuneApplied || d.Cause != contract.IntuneCauseSealed || d.RequestedBy != "substrate" {
		t.Fatalf("deployment: %+v %v", d, err)
	}

	// Every Graph action is in the ceremony's evidence bundle, which verifies.
	b, err := evidence.ExportBytes(ctx, g.s, id, evidence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := evidence.Verify(b)
	if err != nil {
		t.Fatalf("evidence bundle does not verify: %v", err)
	}
	if len(rep.Graph) != 2 || rep.Graph[0].Type != custody.TypeIntuneRequested || rep.Graph[1].Type != custody.TypeIntuneApplied ||
		rep.Graph[1].Changes != 2 || rep.Graph[1].Calls < 4 {
		t.Fatalf("the verified bundle's Graph actions: %+v", rep.Graph)
	}
	for _, typ := range []string{custody.TypeIntuneRequested, custody.TypeIntuneApplied} {
		if !strings.Contains(string(b), `"type":"`+typ+`"`) {
			t.Errorf("the evidence bundle lacks %s", typ)
		}
	}
	if !strings.Contains(string(b), "mobileApps/"+sp.Intune.AppID+"/assign") {
		t.Error("the evidence bundle lacks the assign call")
	}

	// Re-applying (an operator) changes nothing in Intune.
	r2, err := g.cc.StartIntune(ctx, contract.IntuneJob{CeremonyID: id, Decision: contract.IntuneReleased, Digest: sp.Artifact.Digest,
		Cause: contract.IntuneCauseOperator, By: "ada"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Wait(ctx, &out); err != nil || out.Outcome != "applied" || out.Assigned || out.Changes != 0 {
		t.Fatalf("re-apply: %+v %v", out, err)
	}
	if n := g.fake.Count("POST", "/assign"); n != 1 {
		t.Fatalf("re-apply posted: %d assign calls", n)
	}

	// The artifact is revoked (Chronicle): Guildhall's groups go to uninstall.
	p := chronicle.NewProjector(g.s).WithIntune(&chronicle.IntuneWithdrawal{Deployments: g.s,
		Start: func(ctx context.Context, job contract.IntuneJob) error {
			_, err := g.cc.StartIntune(ctx, job)
			return err
		}})
	ev := fmt.Sprintf(`{"id":"evt-revoke-1","type":"artifact.revoked","time":"2026-12-01T10:00:00Z","artifact":{"name":"app","digest":%q},"data":{"reason":"CVE-2026-1234"}}`, sp.Artifact.Digest)
	if _, err := p.Project(ctx, []byte(ev)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Project(ctx, []byte(ev)); err != nil { // resent: nothing twice
		t.Fatal(err)
	}
	g.waitIntents(t, sp.Intune, func(contract.IntuneGroup) string { return "uninstall" })
	if err := g.c.GetWorkflow(ctx, contract.IntuneWorkflowID(id, contract.IntuneRevoked), "").Get(ctx, &out); err != nil || out.Outcome != "applied" {
		t.Fatalf("revoke: %+v %v", out, err)
	}
	if got := g.intents(sp.Intune)[others]; got != "available" {
		t.Fatalf("someone else's assignment became %q", got)
	}
	types := g.custodyTypes(t, id)
	if types[custody.TypeIntuneRequested] != 3 || types[custody.TypeIntuneApplied] != 3 {
		t.Fatalf("custody events: %v", types)
	}
	if d, _ = g.s.GetIntuneDeployment(ctx, id); d.Decision != "revoked" || d.State != store.IntuneApplied {
		t.Fatalf("deployment after the revocation: %+v", d)
	}
}

// A Graph outage while the release is carried out: the ceremony is sealed at
// once, the deployment shows pending with the last error while Temporal
// retries (flagged intune_failing after the first tries), and once Graph is
// back the assignments are made: nothing is lost.
func TestIntuneOutageDelaysNeverLoses(t *testing.T) {
	g := newGraphStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	g.fake.Outage(14*time.Second, "2")
	id := "it/intune-outage"
	sealedAt := time.Now()
	sp := g.release(t, id, contract.IntuneRevokeRemove, nil)
	took := time.Since(sealedAt)
	if took > 12*time.Second {
		t.Fatalf("sealing waited for Graph (%s)", took)
	}
	testenv.Eventually(t, 20*time.Second, "the deployment to show pending with Graph's error", func() bool {
		d, err := g.s.GetIntuneDeployment(ctx, id)
		return err == nil && d.State == store.IntunePending && strings.Contains(d.LastError, "503")
	})
	if len(g.intents(sp.Intune)) != 0 {
		t.Fatal("assignments during the outage")
	}
	g.waitIntents(t, sp.Intune, decided)
	t.Logf("sealed %s after the outage began; assignments made %s after it began", took, time.Since(sealedAt))
	var out activities.IntuneOutcome
	if err := g.c.GetWorkflow(ctx, contract.IntuneWorkflowID(id, contract.IntuneReleased), "").Get(ctx, &out); err != nil || out.Outcome != "applied" {
		t.Fatalf("IntuneDeploy after the outage: %+v %v", out, err)
	}
	types := g.custodyTypes(t, id)
	if types[custody.TypeIntuneFailed] < 3 || types[custody.TypeIntuneApplied] != 1 {
		t.Fatalf("custody events: %v (want the failed tries and the success)", types)
	}
	t.Logf("custody: %d failed tries recorded, then applied; Graph saw %d requests answered 503", types[custody.TypeIntuneFailed], count503(g.fake))
	// The run flagged itself for operators while it kept failing, and lowered
	// the flag when it succeeded.
	var flags []string
	it := g.c.GetWorkflowHistory(ctx, contract.IntuneWorkflowID(id, contract.IntuneReleased), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetUpsertWorkflowSearchAttributesEventAttributes(); a != nil {
			f := a.GetSearchAttributes().GetIndexedFields()[contract.SACeremonyAttention]
			flags = append(flags, string(f.GetData()))
		}
	}
	if len(flags) != 2 || !strings.Contains(flags[0], contract.AttentionIntuneFailing) || strings.Contains(flags[1], "intune") {
		t.Fatalf("attention upserts %q, want intune_failing then unset", flags)
	}
}

// The drift check (run directly and through its Temporal Schedule) finds an
// assignment changed behind Guildhall's back and records it once; it starts
// the withdrawal of an artifact revoked without it.
func TestIntuneDriftCheck(t *testing.T) {
	g := newGraphStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id := "it/intune-drift"
	sp := g.release(t, id, contract.IntuneRevokeRemove, nil)
	g.waitIntents(t, sp.Intune, decided)
	testenv.Eventually(t, 30*time.Second, "the deployment to be applied", func() bool {
		d, err := g.s.GetIntuneDeployment(ctx, id)
		return err == nil && d.State == store.IntuneApplied
	})
	changed := sp.Intune.Groups[0].GroupID
	g.fake.ChangeIntent(sp.Intune.AppID, changed, "uninstall")

	check := func(wid string) workflows.DriftSummary {
		t.Helper()
		run, err := g.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: contract.TaskQueue}, contract.WorkflowIntuneDriftCheck)
		if err != nil {
			t.Fatal(err)
		}
		var sum workflows.DriftSummary
		if err := run.Get(ctx, &sum); err != nil {
			t.Fatal(err)
		}
		return sum
	}
	sum := check("drift-" + uuid.NewString())
	if !slices.Contains(sum.Drifted, id) {
		t.Fatalf("drift not found: %+v", sum)
	}
	d, _ := g.s.GetIntuneDeployment(ctx, id)
	if !d.Drifted() || !strings.Contains(d.Drift, changed) || !strings.Contains(d.Drift, `"to":"required"`) {
		t.Fatalf("recorded drift: %s", d.Drift)
	}
	if sum := check("drift-" + uuid.NewString()); !slices.Contains(sum.Drifted, id) {
		t.Fatalf("drift gone by itself: %+v", sum)
	}
	if n := g.custodyTypes(t, id)[custody.TypeIntuneDrift]; n != 1 {
		t.Fatalf("%d drift events for one change, want 1", n)
	}
	if g.intents(sp.Intune)[changed] != "uninstall" {
		t.Fatal("the drift check changed Intune")
	}

	// The Temporal Schedule runs the same check; it is kept idempotently.
	for i, want := range []string{"created", "unchanged", "updated"} {
		every := time.Hour * time.Duration(1+i/2)
		if got, err := g.cc.EnsureIntuneSchedule(ctx, contract.TaskQueue, every); err != nil || got != want {
			t.Fatalf("schedule %d: %q %v, want %q", i, got, err, want)
		}
	}
	t.Cleanup(func() {
		_ = g.c.ScheduleClient().GetHandle(context.Background(), contract.IntuneDriftSchedule).Delete(context.Background())
	})
	before, _ := g.s.GetIntuneDeployment(ctx, id)
	if err := g.cc.TriggerIntuneDriftCheck(ctx); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "the scheduled drift check to run", func() bool {
		d, err := g.s.GetIntuneDeployment(ctx, id)
		return err == nil && d.CheckedAt != nil && d.CheckedAt.After(*before.CheckedAt)
	})

	// An operator re-applies: the drift is undone and cleared.
	r, err := g.cc.StartIntune(ctx, contract.IntuneJob{CeremonyID: id, Decision: contract.IntuneReleased, Cause: contract.IntuneCauseOperator, By: "ada"})
	if err != nil {
		t.Fatal(err)
	}
	var out activities.IntuneOutcome
	if err := r.Wait(ctx, &out); err != nil || out.Changes != 1 {
		t.Fatalf("re-apply: %+v %v", out, err)
	}
	if d, _ = g.s.GetIntuneDeployment(ctx, id); d.Drifted() || g.intents(sp.Intune)[changed] != "required" {
		t.Fatalf("after re-applying: drift %s, Intune %v", d.Drift, g.intents(sp.Intune))
	}

	// Revoked without the withdrawal being started (an import with Temporal
	// down): the next drift check starts it.
	ev := fmt.Sprintf(`{"id":"evt-revoke-2","type":"artifact.revoked","time":"2026-12-01T10:00:00Z","artifact":{"name":"app","digest":%q}}`, sp.Artifact.Digest)
	if _, err := chronicle.NewProjector(g.s).Project(ctx, []byte(ev)); err != nil {
		t.Fatal(err)
	}
	if sum := check("drift-" + uuid.NewString()); !slices.Contains(sum.Revoking, id) {
		t.Fatalf("the drift check did not start the withdrawal: %+v", sum)
	}
	testenv.Eventually(t, time.Minute, "the revoked release's assignments to be removed", func() bool {
		return len(g.intents(sp.Intune)) == 0
	})
	if d, _ = g.s.GetIntuneDeployment(ctx, id); d.Decision != "revoked" || d.Cause != contract.IntuneCauseDrift {
		t.Fatalf("deployment: %+v", d)
	}
}

func count503(f *intunetest.Server) int {
	n := 0
	for _, r := range f.Requests() {
		if r.Status == 503 {
			n++
		}
	}
	return n
}
