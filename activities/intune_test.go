package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/intune"
	"github.com/guildhouse/guildhall/intune/intunetest"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

// bridge is an Ops DB with one sealed release carrying an Intune target, a fake
// Graph and the activities wired to both.
type bridge struct {
	s      *store.Store
	fake   *intunetest.Server
	acts   *activities.Activities
	env    *testsuite.TestActivityEnvironment
	target contract.IntuneTarget
	id     string
	digest string
	step   int
}

func newBridge(t *testing.T, tweak ...func(*intune.Config)) *bridge {
	t.Helper()
	ctx := context.Background()
	s := storetest.SQLite(t)
	fake := intunetest.New(t)
	app := uuid.NewString()
	fake.AddApp(intunetest.App{ID: app, DisplayName: "VPN client 2.4"})
	cfg := fake.Config()
	cfg.MaxAttempts, cfg.BaseBackoff = 1, time.Millisecond
	for _, f := range tweak {
		f(&cfg)
	}
	client, err := intune.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := &bridge{s: s, fake: fake, acts: &activities.Activities{Store: s, Graph: client}, id: "web/vpn-2-4",
		digest: "sha256:" + strings.Repeat("c3", 32),
		target: contract.IntuneTarget{AppID: app, OnRevoke: contract.IntuneRevokeUninstall,
			Groups: []contract.IntuneGroup{{GroupID: uuid.NewString(), Intent: contract.IntuneRequired}}}}
	spec := contract.Spec{ID: b.id, Kind: contract.KindRelease, Artifact: contract.Artifact{Name: "vpn", Digest: b.digest},
		Initiator: "ivy", Witnesses: []contract.WitnessRef{{ID: "alice"}}, Quorum: contract.Quorum{Threshold: 1},
		Deadline: time.Now().Add(time.Hour), Intune: &b.target}
	if err := s.RecordOpened(ctx, store.Opened{Spec: spec, WorkflowID: contract.WorkflowID(b.id), OpenedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var suite testsuite.WorkflowTestSuite
	b.env = suite.NewTestActivityEnvironment()
	b.env.RegisterActivity(b.acts)
	return b
}

func (b *bridge) request(t *testing.T, d contract.IntuneDecision) activities.IntuneTask {
	t.Helper()
	b.step++
	v, err := b.env.ExecuteActivity(b.acts.IntuneRequested, activities.IntuneRequest{Job: contract.IntuneJob{CeremonyID: b.id, Decision: d, Target: &b.target,
		Digest: b.digest, Cause: contract.IntuneCauseSealed, By: "substrate"}, Key: fmt.Sprintf("req-%d", b.step)})
	if err != nil {
		t.Fatal(err)
	}
	var task activities.IntuneTask
	if err := v.Get(&task); err != nil {
		t.Fatal(err)
	}
	task.Step = 1
	return task
}

// carryOut runs IntuneCarryOut as the next step of one workflow run (the test
// environment gives every execution the same run id and attempt 1).
func (b *bridge) carryOut(task activities.IntuneTask) (activities.IntuneOutcome, error) {
	b.step++
	task.Step = b.step
	var out activities.IntuneOutcome
	v, err := b.env.ExecuteActivity(b.acts.IntuneCarryOut, task)
	if err == nil {
		err = v.Get(&out)
	}
	return out, err
}

func (b *bridge) custody(t *testing.T) map[string][]string {
	t.Helper()
	events, err := b.s.CeremonyCustody(context.Background(), b.id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, e := range events {
		out[e.Type] = append(out[e.Type], e.Body)
	}
	return out
}

// A release is carried out once, recorded with its Graph calls; a second
// carry-out posts nothing; an outage is a retryable failure that names the
// wait Graph asked for and leaves the deployment pending.
func TestIntuneCarryOut(t *testing.T) {
	b := newBridge(t)
	ctx := context.Background()
	task := b.request(t, contract.IntuneReleased)
	out, err := b.carryOut(task)
	if err != nil || out.Outcome != "applied" || !out.Assigned || out.Changes != 1 {
		t.Fatalf("first carry-out: %+v %v", out, err)
	}
	as := b.fake.Assignments(b.target.AppID)
	if len(as) != 1 || as[0].GroupID != b.target.Groups[0].GroupID || as[0].Intent != "required" {
		t.Fatalf("Intune has %+v", as)
	}
	d, _ := b.s.GetIntuneDeployment(ctx, b.id)
	if d.State != store.IntuneApplied || !strings.Contains(d.Managed, as[0].ID) {
		t.Fatalf("deployment after applying: %+v", d)
	}
	applied := b.custody(t)[custody.TypeIntuneApplied]
	if len(applied) != 1 || !strings.Contains(applied[0], `"/assign"`) && !strings.Contains(applied[0], `/assign"`) {
		t.Fatalf("applied event without its calls: %v", applied)
	}
	if strings.Contains(applied[0], b.fake.ClientSecret) || strings.Contains(strings.ToLower(applied[0]), "bearer") {
		t.Fatal("a custody event holds the secret or a token")
	}

	posts := b.fake.Count("POST", "/assign")
	if out, err := b.carryOut(task); err != nil || out.Changes != 0 || out.Assigned {
		t.Fatalf("second carry-out: %+v %v", out, err)
	}
	if b.fake.Count("POST", "/assign") != posts {
		t.Fatal("a second carry-out posted again")
	}

	b.fake.FailGraph(1, 503, "7")
	_, err = b.carryOut(task)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.NonRetryable() || app.NextRetryDelay() != 7*time.Second || app.Type() != "intune_unavailable" {
		t.Fatalf("outage: %v (want retryable after 7s)", err)
	}
	d, _ = b.s.GetIntuneDeployment(ctx, b.id)
	if d.State != store.IntunePending || d.Attempts != 1 || !strings.Contains(d.LastError, "503") {
		t.Fatalf("deployment during an outage: %+v", d)
	}
	if failed := b.custody(t)[custody.TypeIntuneFailed]; len(failed) != 1 || !strings.Contains(failed[0], `"retryable":true`) {
		t.Fatalf("failed event: %v", failed)
	}
}

// A carry-out heartbeats while Graph is slow, so the workflow's heartbeat
// timeout can tell a dead worker from a slow call.
func TestIntuneCarryOutHeartbeats(t *testing.T) {
	b := newBridge(t)
	b.acts.IntuneHeartbeat = 20 * time.Millisecond
	beats := &heartbeatCounter{}
	b.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{beats}})
	task := b.request(t, contract.IntuneReleased)
	b.fake.Delay(1, 300*time.Millisecond)
	if out, err := b.carryOut(task); err != nil || out.Outcome != "applied" {
		t.Fatalf("carry-out: %+v %v", out, err)
	}
	if n := beats.n.Load(); n < 5 {
		t.Fatalf("%d heartbeats during a 300 ms Graph call at one per 20 ms", n)
	}
}

// heartbeatCounter counts the heartbeats activities record.
type heartbeatCounter struct {
	interceptor.WorkerInterceptorBase
	n atomic.Int32
}

func (c *heartbeatCounter) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &heartbeatInbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, c: c}
}

type heartbeatInbound struct {
	interceptor.ActivityInboundInterceptorBase
	c *heartbeatCounter
}

func (i *heartbeatInbound) Init(out interceptor.ActivityOutboundInterceptor) error {
	return i.Next.Init(&heartbeatOutbound{ActivityOutboundInterceptorBase: interceptor.ActivityOutboundInterceptorBase{Next: out}, c: i.c})
}

type heartbeatOutbound struct {
	interceptor.ActivityOutboundInterceptorBase
	c *heartbeatCounter
}

func (o *heartbeatOutbound) RecordHeartbeat(ctx context.Context, details ...any) {
	o.c.n.Add(1)
	o.Next.RecordHeartbeat(ctx, details...)
}

// A tenant that does not know the app registration is refused for good: the
// deployment is failed, the reason names the setting, the chain has it.
func TestIntuneWrongTenantFails(t *testing.T) {
	b2 := newBridge(t)
	cfg := b2.fake.Config()
	cfg.TenantID, cfg.MaxAttempts = b2.fake.OtherTenantID, 1
	client, err := intune.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b2.acts.Graph = client
	task := b2.request(t, contract.IntuneReleased)
	_, err = b2.carryOut(task)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || !app.NonRetryable() || !strings.Contains(err.Error(), "GRAPH_") {
		t.Fatalf("wrong tenant: %v (want a non-retryable failure naming the setting)", err)
	}
	d, _ := b2.s.GetIntuneDeployment(context.Background(), b2.id)
	if d.State != store.IntuneFailed || !strings.Contains(d.LastError, "AADSTS700016") {
		t.Fatalf("deployment: %+v", d)
	}
	if n := b2.fake.Count("POST", "/assign"); n != 0 {
		t.Fatalf("%d assign calls with a refused token", n)
	}
}

// A release whose artifact was revoked meanwhile is not deployed; a release
// superseded by a revocation request is skipped; a worker without the bridge
// waits (retryable) and says why on the deployment.
func TestIntuneStaleAndUnconfigured(t *testing.T) {
	b := newBridge(t)
	ctx := context.Background()
	release := b.request(t, contract.IntuneReleased)
	b.request(t, contract.IntuneRevoked)
	if out, err := b.carryOut(release); err != nil || out.Outcome != "skipped" || !strings.Contains(out.Reason, "superseded") {
		t.Fatalf("superseded release: %+v %v", out, err)
	}
	if b.fake.Count("POST", "/assign") != 0 {
		t.Fatal("a superseded release posted")
	}
	b.request(t, contract.IntuneReleased)
	if _, err := b.s.TransitionArtifact(ctx, store.Transition{Digest: b.digest, To: store.ArtifactRevoked, Actor: "chronicle"}); err != nil {
		t.Fatal(err)
	}
	if out, err := b.carryOut(release); err != nil || out.Outcome != "skipped" || !strings.Contains(out.Reason, "revoked") {
		t.Fatalf("release of a revoked artifact: %+v %v", out, err)
	}
	if n := len(b.custody(t)[custody.TypeIntuneSkipped]); n != 2 {
		t.Fatalf("%d skipped events, want 2", n)
	}

	b.acts.Graph = nil
	revoke := b.request(t, contract.IntuneRevoked)
	_, err := b.carryOut(revoke)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.NonRetryable() || app.NextRetryDelay() < time.Minute {
		t.Fatalf("no bridge: %v", err)
	}
	d, _ := b.s.GetIntuneDeployment(ctx, b.id)
	if d.State != store.IntunePending || !strings.Contains(d.LastError, "GRAPH_TENANT_ID") {
		t.Fatalf("deployment without a bridge: %+v", d)
	}
}

// The drift check finds an intent changed behind Guildhall's back, records it
// once, and records again when it is gone.
func TestIntuneCheckFindsDrift(t *testing.T) {
	b := newBridge(t)
	task := b.request(t, contract.IntuneReleased)
	if _, err := b.carryOut(task); err != nil {
		t.Fatal(err)
	}
	check := func() activities.IntuneCheckResult {
		t.Helper()
		v, err := b.env.ExecuteActivity(b.acts.IntuneCheck, task)
		if err != nil {
			t.Fatal(err)
		}
		var res activities.IntuneCheckResult
		if err := v.Get(&res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := check(); !res.Checked || res.Drift != 0 {
		t.Fatalf("no drift expected: %+v", res)
	}
	b.fake.ChangeIntent(b.target.AppID, b.target.Groups[0].GroupID, "available")
	if res := check(); res.Drift != 1 {
		t.Fatalf("changed intent not found: %+v", res)
	}
	d, _ := b.s.GetIntuneDeployment(context.Background(), b.id)
	var drift []intune.Change
	if err := json.Unmarshal([]byte(d.Drift), &drift); err != nil || len(drift) != 1 || drift[0].Kind != intune.ChangeIntent || !d.Drifted() {
		t.Fatalf("recorded drift: %+v %v", d, err)
	}
	check()
	if n := len(b.custody(t)[custody.TypeIntuneDrift]); n != 1 {
		t.Fatalf("%d drift events for one change, want 1", n)
	}
	if b.fake.Count("POST", "/assign") != 1 {
		t.Fatal("the drift check changed Intune")
	}
}
