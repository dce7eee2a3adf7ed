package intune_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/guildhouse/guildhall/intune"
	"github.com/guildhouse/guildhall/intune/intunetest"
)

// env is a fake Graph, a fake clock shared by client and fake, and a client.
type env struct {
	fake   *intunetest.Server
	clock  *intunetest.Clock
	client *intune.Client
	target intune.Target
}

func newEnv(t *testing.T, tweak ...func(*intune.Config)) *env {
	t.Helper()
	fake := intunetest.New(t)
	// Now, not a fixed date: a test that sets a context deadline from this clock
	// gets a real deadline (a fixed date put it in the past once the day came).
	clock := intunetest.NewClock(time.Now().UTC().Truncate(time.Second))
	fake.SetClock(clock.Now)
	appID := uuid.NewString()
	fake.AddApp(intunetest.App{ID: appID, DisplayName: "Guildhall Agent 0.1.0"})
	cfg := fake.Config()
	cfg.Now, cfg.Sleep = clock.Now, clock.Sleep
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := intune.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{fake: fake, clock: clock, client: c, target: intune.Target{
		AppID:    appID,
		Groups:   []intune.GroupIntent{{GroupID: uuid.NewString(), Intent: intune.IntentRequired}, {GroupID: uuid.NewString(), Intent: intune.IntentAvailable}},
		OnRevoke: intune.RevokeUninstall,
	}}
}

func (e *env) intents(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range e.fake.Assignments(e.target.AppID) {
		if a.TargetType == intune.TypeGroupTarget {
			out[a.GroupID] = a.Intent
		}
	}
	return out
}

func (e *env) wantTargetApplied(t *testing.T, intent func(intune.GroupIntent) string) {
	t.Helper()
	got := e.intents(t)
	for _, g := range e.target.Groups {
		if got[g.GroupID] != intent(g) {
			t.Errorf("group %s: Intune has %q, want %q", g.GroupID, got[g.GroupID], intent(g))
		}
	}
}

func decided(g intune.GroupIntent) string { return string(g.Intent) }

func asError(t *testing.T, err error) *intune.Error {
	t.Helper()
	var e *intune.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *intune.Error, got %T %v", err, err)
	}
	return e
}

var ctx = context.Background()

func TestApplyThenApplyAgainPostsNothing(t *testing.T) {
	e := newEnv(t)
	r, err := e.client.Apply(ctx, e.target)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Assigned || len(r.Changes) != 2 || len(r.Remaining) != 0 || r.App.DisplayName != "Guildhall Agent 0.1.0" {
		t.Fatalf("first apply: %+v", r)
	}
	if len(r.Managed) != 2 || r.Managed[0].ID == "" {
		t.Fatalf("managed assignments not recorded with their ids: %+v", r.Managed)
	}
	e.wantTargetApplied(t, decided)
	if n := e.fake.Count("POST", "/assign"); n != 1 {
		t.Fatalf("%d assign calls", n)
	}

	r2, err := e.client.Apply(ctx, e.target)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Assigned || len(r2.Changes) != 0 {
		t.Fatalf("second apply changed something: %+v", r2.Changes)
	}
	if n := e.fake.Count("POST", "/assign"); n != 1 {
		t.Fatalf("second apply posted: %d assign calls", n)
	}
	if n := e.fake.Count("POST", "/token"); n != 1 {
		t.Fatalf("%d token requests; the token should be reused", n)
	}
}

func TestApplyPreservesAssignmentsGuildhallDidNotMake(t *testing.T) {
	e := newEnv(t)
	settings := json.RawMessage(`{"@odata.type":"#microsoft.graph.win32LobAppAssignmentSettings","notifications":"showReboot","deliveryOptimizationPriority":"foreground"}`)
	foreign := []intunetest.Assignment{
		{Intent: "available", TargetType: intune.TypeGroupTarget, GroupID: uuid.NewString(), Settings: settings},
		{Intent: "required", TargetType: intune.TypeExclusionTarget, GroupID: uuid.NewString()},
		{Intent: "available", TargetType: intune.TypeAllUsersTarget, FilterID: uuid.NewString(), FilterType: "include"},
	}
	e.fake.SetAssignments(e.target.AppID, foreign...)
	before := e.fake.Assignments(e.target.AppID)
	if _, err := e.client.Apply(ctx, e.target); err != nil {
		t.Fatal(err)
	}
	after := e.fake.Assignments(e.target.AppID)
	if len(after) != len(foreign)+2 {
		t.Fatalf("after apply: %+v", after)
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.ID != b.ID || a.Intent != b.Intent || a.TargetType != b.TargetType || a.GroupID != b.GroupID || a.FilterID != b.FilterID || a.FilterType != b.FilterType || string(a.Settings) != string(b.Settings) {
			t.Errorf("foreign assignment %d changed:\n before %+v\n after  %+v", i, b, a)
		}
	}
	e.wantTargetApplied(t, decided)
}

func TestThrottlingHonoursRetryAfter(t *testing.T) {
	e := newEnv(t)
	e.fake.Throttle(2, "7")
	start := e.clock.Now()
	if _, err := e.client.Apply(ctx, e.target); err != nil {
		t.Fatal(err)
	}
	if got := e.clock.Slept(); !slices.Equal(got, []time.Duration{7 * time.Second, 7 * time.Second}) {
		t.Fatalf("slept %v, want two waits of 7s", got)
	}
	// The fake saw the retry no earlier than Retry-After after each 429.
	var prev time.Time
	for _, r := range e.fake.Requests() {
		if r.Status == http.StatusTooManyRequests {
			prev = r.Time
			continue
		}
		if !prev.IsZero() {
			if r.Time.Sub(prev) < 7*time.Second {
				t.Fatalf("retried %v after a 429 with Retry-After 7", r.Time.Sub(prev))
			}
			prev = time.Time{}
		}
	}
	if e.clock.Now().Sub(start) < 14*time.Second {
		t.Fatal("the clock did not move")
	}
	e.wantTargetApplied(t, decided)
}

func TestThrottlingWithHTTPDate(t *testing.T) {
	e := newEnv(t)
	e.fake.Throttle(1, e.clock.Now().Add(45*time.Second).Format(http.TimeFormat))
	if _, err := e.client.Apply(ctx, e.target); err != nil {
		t.Fatal(err)
	}
	if got := e.clock.Slept(); len(got) != 1 || got[0] != 45*time.Second {
		t.Fatalf("slept %v, want 45s", got)
	}
}

func TestLongRetryAfterIsHandedToTheCaller(t *testing.T) {
	e := newEnv(t)
	e.fake.Throttle(1, "600")
	_, err := e.client.Apply(ctx, e.target)
	ge := asError(t, err)
	if ge.Kind != intune.KindThrottled || !intune.IsRetryable(err) || intune.RetryAfter(err) != 10*time.Minute {
		t.Fatalf("error %+v", ge)
	}
	if len(e.clock.Slept()) != 0 {
		t.Fatalf("waited inside the call: %v", e.clock.Slept())
	}
}

func TestRetryAfterBeyondTheDeadlineIsHandedToTheCaller(t *testing.T) {
	e := newEnv(t)
	e.fake.Throttle(1, "60")
	dctx, cancel := context.WithDeadline(ctx, e.clock.Now().Add(30*time.Second))
	defer cancel()
	_, err := e.client.Check(dctx, e.target, intune.Released)
	if !intune.IsRetryable(err) || intune.RetryAfter(err) != time.Minute || len(e.clock.Slept()) != 0 {
		t.Fatalf("err %v, slept %v", err, e.clock.Slept())
	}
}

func TestOutageThatEnds(t *testing.T) {
	e := newEnv(t)
	e.fake.Outage(90*time.Second, "30")
	if _, err := e.client.Apply(ctx, e.target); err != nil {
		t.Fatal(err)
	}
	if got := e.clock.Slept(); !slices.Equal(got, []time.Duration{30 * time.Second, 30 * time.Second, 30 * time.Second}) {
		t.Fatalf("slept %v", got)
	}
	e.wantTargetApplied(t, decided)
}

func TestOutageLongerThanTheAttemptsEndsRetryable(t *testing.T) {
	e := newEnv(t, func(c *intune.Config) { c.MaxAttempts = 3 })
	e.fake.Outage(time.Hour, "")
	r, err := e.client.Apply(ctx, e.target)
	ge := asError(t, err)
	if ge.Kind != intune.KindUnavailable || ge.Status != 503 || !ge.Retryable() || r.Assigned {
		t.Fatalf("error %+v, result %+v", ge, r)
	}
	if n := len(e.clock.Slept()); n != 2 {
		t.Fatalf("%d waits for 3 attempts", n)
	}
	for i, d := range e.clock.Slept() {
		if lo, hi := time.Second<<i/2, time.Second<<i; d < lo || d > hi {
			t.Errorf("backoff %d = %v, want within [%v, %v]", i, d, lo, hi)
		}
	}
	if len(r.Calls) == 0 || r.Calls[len(r.Calls)-1].Status != 503 {
		t.Fatalf("calls not recorded: %+v", r.Calls)
	}
	// The outage ends; the next try (a Temporal retry) carries the decision out.
	e.clock.Advance(time.Hour)
	if _, err := e.client.Apply(ctx, e.target); err != nil {
		t.Fatal(err)
	}
	e.wantTargetApplied(t, decided)
}

func TestBadGatewayWithoutRetryAfterBacksOff(t *testing.T) {
	e := newEnv(t)
	e.fake.FailGraph(2, http.StatusBadGateway, "")
	if _, err := e.client.Check(ctx, e.target, intune.Released); err != nil {
		t.Fatal(err)
	}
	if n := len(e.clock.Slept()); n != 2 {
		t.Fatalf("slept %v", e.clock.Slept())
	}
}

func TestTokenRenewedBeforeItExpires(t *testing.T) {
	e := newEnv(t)
	if _, err := e.client.Apply(ctx, e.target); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.client.Check(ctx, e.target, intune.Released); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.Count("POST", "/token"); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
	for _, r := range e.fake.Requests() {
		if r.Status == http.StatusUnauthorized {
			t.Fatalf("Graph saw an expired token: %+v", r)
		}
	}
}

func TestExpiredTokenRefreshedOnce(t *testing.T) {
	e := newEnv(t)
	if _, err := e.client.Apply(ctx, e.target); err != nil {
		t.Fatal(err)
	}
	e.fake.ResetLog()
	e.fake.ExpireTokens()
	r, err := e.client.Check(ctx, e.target, intune.Released)
	if err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, c := range r.Calls {
		seq = append(seq, c.Op+":"+http.StatusText(c.Status))
	}
	want := []string{"get app:Unauthorized", "token:OK", "get app:OK", "list assignments:OK"}
	if !slices.Equal(seq, want) {
		t.Fatalf("calls %v, want %v", seq, want)
	}
	if len(e.clock.Slept()) != 0 {
		t.Fatal("a refresh should not wait")
	}
}

func TestGraphRefusingAFreshTokenIsNotRetried(t *testing.T) {
	e := newEnv(t)
	e.fake.SetTokenLifetime(0) // every token is expired on arrival
	_, err := e.client.Check(ctx, e.target, intune.Released)
	ge := asError(t, err)
	if ge.Kind != intune.KindAuth || ge.Status != 401 || ge.Retryable() {
		t.Fatalf("error %+v", ge)
	}
	if n := e.fake.Count("POST", "/token"); n != 2 {
		t.Fatalf("%d token requests, want 2 (one refresh)", n)
	}
}

func TestPagingFollowsNextLink(t *testing.T) {
	e := newEnv(t)
	e.fake.SetPageSize(2)
	var foreign []intunetest.Assignment
	for range 5 {
		foreign = append(foreign, intunetest.Assignment{Intent: "available", TargetType: intune.TypeGroupTarget, GroupID: uuid.NewString()})
	}
	e.fake.SetAssignments(e.target.AppID, foreign...)
	got, err := e.client.ListAssignments(ctx, e.target.AppID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("%d assignments over pages of 2", len(got))
	}
	var skips []string
	for _, r := range e.fake.Requests() {
		if strings.HasSuffix(r.Path, "/assignments") {
			skips = append(skips, r.Query.Get("$skiptoken"))
		}
	}
	if !slices.Equal(skips, []string{"", "2", "4"}) {
		t.Fatalf("pages requested: %q", skips)
	}
	if _, err := e.client.Apply(ctx, e.target); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Assignments(e.target.AppID)); n != 7 {
		t.Fatalf("after apply %d assignments, want 5 foreign + 2", n)
	}
}

func TestDriftBehindGuildhallsBack(t *testing.T) {
	e := newEnv(t)
	if _, err := e.client.Apply(ctx, e.target); err != nil {
		t.Fatal(err)
	}
	a, b := e.target.Groups[0].GroupID, e.target.Groups[1].GroupID
	e.fake.ChangeIntent(e.target.AppID, a, "available")
	var kept []intunetest.Assignment
	for _, x := range e.fake.Assignments(e.target.AppID) {
		if x.GroupID != b {
			kept = append(kept, x)
		}
	}
	e.fake.SetAssignments(e.target.AppID, kept...)
	posts := e.fake.Count("POST", "/assign")

	r, err := e.client.Check(ctx, e.target, intune.Released)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Changes) != 2 || r.Assigned {
		t.Fatalf("drift %+v", r.Changes)
	}
	if c := r.Changes[0]; c.Kind != intune.ChangeIntent || c.GroupID != a || c.From != intune.IntentAvailable || c.To != intune.IntentRequired ||
		c.Text != "group "+a+": Intune has available; the ceremony decided required" {
		t.Errorf("intent drift %+v", c)
	}
	if c := r.Changes[1]; c.Kind != intune.ChangeAdd || c.GroupID != b || !strings.Contains(c.Text, "Intune has no assignment") {
		t.Errorf("missing-group drift %+v", c)
	}
	if e.fake.Count("POST", "/assign") != posts {
		t.Fatal("the drift check posted")
	}

	// An operator re-applies: Intune matches again, and the check finds nothing.
	if _, err := e.client.Apply(ctx, e.target); err != nil {
		t.Fatal(err)
	}
	e.wantTargetApplied(t, decided)
	if r, err := e.client.Check(ctx, e.target, intune.Released); err != nil || len(r.Changes) != 0 {
		t.Fatalf("after re-apply: %v %+v", err, r.Changes)
	}
}

func TestRevokeUninstall(t *testing.T) {
	e := newEnv(t)
	other := uuid.NewString()
	e.fake.SetAssignments(e.target.AppID, intunetest.Assignment{Intent: "available", TargetType: intune.TypeGroupTarget, GroupID: other})
	if _, err := e.client.Apply(ctx, e.target); err != nil {
		t.Fatal(err)
	}
	r, err := e.client.Revoke(ctx, e.target)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Assigned || len(r.Changes) != 2 || r.Decision != intune.Revoked {
		t.Fatalf("revoke %+v", r)
	}
	e.wantTargetApplied(t, func(intune.GroupIntent) string { return "uninstall" })
	if got := e.intents(t)[other]; got != "available" {
		t.Fatalf("foreign group changed to %q", got)
	}
	posts := e.fake.Count("POST", "/assign")
	if r, err := e.client.Revoke(ctx, e.target); err != nil || r.Assigned {
		t.Fatalf("second revoke: %v %+v", err, r)
	}
	if e.fake.Count("POST", "/assign") != posts {
		t.Fatal("second revoke posted")
	}
	if r, err := e.client.Check(ctx, e.target, intune.Revoked); err != nil || len(r.Changes) != 0 {
		t.Fatalf("revoked drift: %v %+v", err, r.Changes)
	}
}

func TestRevokeRemove(t *testing.T) {
	e := newEnv(t)
	e.target.OnRevoke = intune.RevokeRemove
	other := uuid.NewString()
	e.fake.SetAssignments(e.target.AppID, intunetest.Assignment{Intent: "required", TargetType: intune.TypeExclusionTarget, GroupID: other})
	if _, err := e.client.Apply(ctx, e.target); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Revoke(ctx, e.target); err != nil {
		t.Fatal(err)
	}
	left := e.fake.Assignments(e.target.AppID)
	if len(left) != 1 || left[0].GroupID != other || left[0].TargetType != intune.TypeExclusionTarget {
		t.Fatalf("after remove: %+v", left)
	}
}

func TestConflictWithSomeoneElsesExclusionPostsNothing(t *testing.T) {
	e := newEnv(t)
	e.fake.SetAssignments(e.target.AppID, intunetest.Assignment{Intent: "required", TargetType: intune.TypeExclusionTarget, GroupID: e.target.Groups[0].GroupID})
	r, err := e.client.Apply(ctx, e.target)
	ge := asError(t, err)
	if ge.Kind != intune.KindConflict || ge.Retryable() || !strings.Contains(ge.Message, "remove the exclusion in Intune or amend the ceremony") {
		t.Fatalf("error %+v", ge)
	}
	if r.Assigned || e.fake.Count("POST", "/assign") != 0 {
		t.Fatal("posted despite the conflict")
	}
}

func TestUnknownAppIsNotRetried(t *testing.T) {
	e := newEnv(t)
	e.target.AppID = uuid.NewString()
	_, err := e.client.Apply(ctx, e.target)
	ge := asError(t, err)
	if ge.Kind != intune.KindNotFound || ge.Retryable() || !strings.Contains(ge.Error(), "no Intune app with id "+e.target.AppID) || ge.RequestID == "" {
		t.Fatalf("error %+v", ge)
	}
}

func TestForbiddenNamesThePermission(t *testing.T) {
	e := newEnv(t)
	e.fake.FailGraph(1, http.StatusForbidden, "")
	_, err := e.client.Apply(ctx, e.target)
	ge := asError(t, err)
	if ge.Kind != intune.KindPermission || ge.Retryable() || !strings.Contains(ge.Message, "DeviceManagementApps.ReadWrite.All") {
		t.Fatalf("error %+v", ge)
	}
	if len(e.clock.Slept()) != 0 {
		t.Fatal("retried a 403")
	}
}

func TestInvalidTargetTouchesNothing(t *testing.T) {
	e := newEnv(t)
	e.target.Groups[1].Intent = "install"
	_, err := e.client.Apply(ctx, e.target)
	if ge := asError(t, err); ge.Kind != intune.KindInvalid || !strings.Contains(ge.Message, "groups[1].intent") {
		t.Fatalf("error %+v", ge)
	}
	if n := len(e.fake.Requests()); n != 0 {
		t.Fatalf("%d requests for an invalid target", n)
	}
}

func TestUnknownDecisionTouchesNothing(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.Check(ctx, e.target, "sealed")
	if ge := asError(t, err); ge.Kind != intune.KindInvalid || len(e.fake.Requests()) != 0 {
		t.Fatalf("error %+v, %d requests", ge, len(e.fake.Requests()))
	}
}

func TestRequestTimeoutIsRetried(t *testing.T) {
	e := newEnv(t, func(c *intune.Config) { c.RequestTimeout = 2 * time.Second })
	if _, err := e.client.Check(ctx, e.target, intune.Released); err != nil { // token and connection ready
		t.Fatal(err)
	}
	e.fake.ResetLog()
	e.fake.Delay(1, time.Minute)
	r, err := e.client.Check(ctx, e.target, intune.Released)
	if err != nil {
		t.Fatal(err)
	}
	// The held request got no answer; the client gave up on it, backed off and
	// asked again (a busy machine may add a timeout of its own, never fewer).
	if len(e.clock.Slept()) < 1 || r.Calls[0].Op != "get app" || r.Calls[0].Status != 0 || !strings.Contains(r.Calls[0].Error, "deadline exceeded") {
		for _, c := range r.Calls {
			t.Logf("%+v", c)
		}
		t.Fatalf("slept %v, want a backoff after the timeout", e.clock.Slept())
	}
	if got := e.fake.Requests(); got[0].Status != 0 || got[len(got)-1].Status != 200 {
		t.Fatalf("fake saw %+v", got)
	}
}

func TestResultRecordsCallsWithoutSecrets(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, func(c *intune.Config) {
		c.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	e.fake.Throttle(1, "2")
	r, err := e.client.Apply(ctx, e.target)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, c := range r.Calls {
		ops = append(ops, c.Op+":"+http.StatusText(c.Status))
		if c.Op != "token" && (c.RequestID == "" || c.ClientRequestID == "") {
			t.Errorf("call without request ids: %+v", c)
		}
	}
	want := []string{"token:OK", "get app:Too Many Requests", "get app:OK", "list assignments:OK", "assign:No Content", "list assignments:OK"}
	if !slices.Equal(ops, want) {
		t.Fatalf("calls %v, want %v", ops, want)
	}
	if r.Calls[1].RetryAfterMillis != 2000 {
		t.Errorf("429 call %+v", r.Calls[1])
	}
	raw, _ := json.Marshal(r)
	if strings.Contains(string(raw), e.fake.ClientSecret) || strings.Contains(string(raw), "fake.") {
		t.Fatalf("the result carries a secret or a token: %s", raw)
	}
	if !strings.Contains(logs.String(), "graph: retrying") {
		t.Fatalf("the retry was not logged: %s", logs.String())
	}
	if strings.Contains(logs.String(), e.fake.ClientSecret) || strings.Contains(logs.String(), "fake.") {
		t.Fatalf("the log carries a secret or a token: %s", logs.String())
	}
}

func TestConcurrentUseSharesOneToken(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = e.client.Apply(ctx, e.target)
			} else {
				_, err = e.client.Check(ctx, e.target, intune.Released)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.fake.Count("POST", "/token"); n != 1 {
		t.Fatalf("%d token requests from concurrent calls", n)
	}
	e.wantTargetApplied(t, decided)
}
