// Package securitytest checks, against a real stack (Temporal dev server,
// Postgres, the worker, the web app), that each kind of illegitimate signing
// request gets the right refusal AND that nothing reached the workflow: the web
// app's workflow client is wrapped by a spy that counts sign updates, and the
// workflow's own history and state are compared before and after.
//
// The web package's handler tests check the same refusals against a fake
// workflow client (web/web_test.go: TestOnlyWitnessesSign,
// TestCrossOriginPostRefused, TestSessionCookie, TestRequestSizeLimit,
// TestSignRateLimit, TestAPI); these tests add the real workflow behind them.
package securitytest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/guildhouse/guildhall/bench"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/web"
)

// spy counts the sign updates the web app sends, per ceremony.
type spy struct {
	web.Ceremonies
	mu    sync.Mutex
	signs map[string]int
}

func (s *spy) Sign(ctx context.Context, id string, req contract.SignRequest) (contract.State, error) {
	s.mu.Lock()
	s.signs[id]++
	s.mu.Unlock()
	return s.Ceremonies.Sign(ctx, id, req)
}

func (s *spy) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signs[id]
}

type fixture struct {
	t     *testing.T
	stack *bench.Stack
	spy   *spy
	api   *bench.APIClient
	http  *http.Client
	a, b  bench.Ceremony
	// shared is a witness of both A and B; outsider is registered but a
	// witness of neither.
	shared, outsider bench.Witness
}

func setup(t *testing.T) *fixture {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f := &fixture{t: t, spy: &spy{signs: map[string]int{}}}
	s, err := bench.StartStack(ctx, bench.StackOptions{Dir: t.TempDir(), DevLogin: true, NoBaselineWorker: true, SetDefaultLogger: true,
		WrapCeremonies: func(c web.Ceremonies) web.Ceremonies { f.spy.Ceremonies = c; return f.spy }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	f.stack = s
	cs, err := bench.NewCeremonies(s.Secret, "sec", 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	f.a, f.b = cs[0], cs[1]
	f.shared = f.a.Witnesses[0]
	f.b.Witnesses = append(f.b.Witnesses, f.shared)
	f.b.Spec.Witnesses = append(f.b.Spec.Witnesses, contract.WitnessRef{ID: f.shared.ID, Role: bench.Role})
	f.b.Spec.Quorum.Threshold = len(f.b.Witnesses)
	f.outsider = cs[2].Witnesses[0]
	if err := bench.RegisterWitnesses(ctx, s.Store, []bench.Ceremony{{Witnesses: cs[2].Witnesses}}); err != nil {
		t.Fatal(err)
	}
	// The initiator may read (a role), so refusing them to sign is the sign
	// path's doing, not the reading rule's.
	if err := s.Store.EnsureWitness(ctx, store.NewPerson{ID: f.a.Spec.Initiator, DisplayName: "Initiator", Roles: []string{bench.Role}}, "test"); err != nil {
		t.Fatal(err)
	}
	if err := bench.OpenCeremonies(ctx, &s.Target, []bench.Ceremony{f.a, {Spec: f.b.Spec, Witnesses: f.b.Witnesses[:3]}}, 2); err != nil {
		t.Fatal(err)
	}
	f.api = bench.NewAPIClient(s.BaseURL, 8)
	f.http = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return f
}

// snapshot is what the workflow knows: history events that carry a message in,
// and the state's signatures and refused messages.
type snapshot struct {
	updates, signals, signatures, rejected, signCalls int
}

func (f *fixture) snap(c bench.Ceremony) snapshot {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var s snapshot
	it := f.stack.Temporal.GetWorkflowHistory(ctx, contract.WorkflowID(c.Spec.ID), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			f.t.Fatal(err)
		}
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED:
			s.updates++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			s.signals++
		}
	}
	v, err := f.stack.Temporal.QueryWorkflow(ctx, contract.WorkflowID(c.Spec.ID), "", contract.QueryStatus)
	if err != nil {
		f.t.Fatal(err)
	}
	var st contract.State
	if err := v.Get(&st); err != nil {
		f.t.Fatal(err)
	}
	s.signatures, s.rejected, s.signCalls = len(st.Signatures), len(st.Rejected), f.spy.count(c.Spec.ID)
	return s
}

// nothingArrived checks that c's workflow got no message since before.
func (f *fixture) nothingArrived(name string, c bench.Ceremony, before snapshot) {
	f.t.Helper()
	if after := f.snap(c); after != before {
		f.t.Errorf("%s: a message reached the workflow: before %+v, after %+v", name, before, after)
	}
}

type answer struct {
	code int
	body string
	loc  string
}

func (f *fixture) do(method, path string, body io.Reader, headers map[string]string) answer {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, f.stack.BaseURL+path, body)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := f.http.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return answer{code: resp.StatusCode, body: string(b), loc: resp.Header.Get("Location")}
}

func (f *fixture) apiSign(c bench.Ceremony, token string, body any) answer {
	b, _ := json.Marshal(body)
	return f.do(http.MethodPost, "/api/v1/ceremonies/"+c.Spec.ID+"/sign", strings.NewReader(string(b)),
		map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"})
}

func (f *fixture) formPost(path, cookie string, form url.Values, extra map[string]string) answer {
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if cookie != "" {
		h["Cookie"] = web.SessionCookieName + "=" + cookie
	}
	for k, v := range extra {
		h[k] = v
	}
	return f.do(http.MethodPost, path, strings.NewReader(form.Encode()), h)
}

func (f *fixture) session(w bench.Witness, ttl time.Duration, secret []byte) string {
	f.t.Helper()
	if secret == nil {
		secret = f.stack.Secret
	}
	v, err := web.SessionCookie(context.Background(), f.stack.Store, secret, w.ID, ttl)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

func expect(t *testing.T, name string, got answer, code int, says string) {
	t.Helper()
	expectOneOf(t, name, got, []int{code}, says)
}

func expectOneOf(t *testing.T, name string, got answer, codes []int, says string) {
	t.Helper()
	if !slices.Contains(codes, got.code) || !strings.Contains(got.body+got.loc, says) {
		t.Errorf("%s: got HTTP %d %q (Location %q), want %v mentioning %q", name, got.code, trim(got.body), got.loc, codes, says)
	} else {
		t.Logf("%s: HTTP %d as expected", name, got.code)
	}
}

func trim(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func TestRefusalsSendNothingToTheWorkflow(t *testing.T) {
	f := setup(t)
	formKey := func() string { return strings.Repeat("ab", 16) }
	review := url.Values{"decision": {"approve"}, "comment": {"x"}, "key": {formKey()}}

	t.Run("non-witness", func(t *testing.T) {
		before := f.snap(f.a)
		body := bench.NewSignBody(f.a.Spec, f.outsider, "sec-outsider-1", contract.Approve)
		expect(t, "API sign by a registered non-witness", f.apiSign(f.a, f.outsider.Token, body), http.StatusForbidden, "not a witness")
		expect(t, "form review by a logged-in non-witness",
			f.formPost("/ceremonies/"+f.a.Spec.ID+"/review", f.session(f.outsider, time.Hour, nil), review, nil),
			http.StatusForbidden, "not a witness")
		initiator := bench.Witness{ID: f.a.Spec.Initiator}
		expect(t, "form review by the initiator",
			f.formPost("/ceremonies/"+f.a.Spec.ID+"/review", f.session(initiator, time.Hour, nil), review, nil),
			http.StatusForbidden, "not a witness")
		f.nothingArrived("non-witness", f.a, before)
	})

	t.Run("cross-origin POST", func(t *testing.T) {
		before := f.snap(f.a)
		cookie := f.session(f.a.Witnesses[1], time.Hour, nil)
		for name, h := range map[string]map[string]string{
			"Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": "cross-site"},
			"foreign Origin":            {"Origin": "http://evil.example"},
		} {
			for _, path := range []string{"/review", "/sign"} {
				expect(t, "cross-origin "+path+" ("+name+")",
					f.formPost("/ceremonies/"+f.a.Spec.ID+path, cookie, review, h), http.StatusForbidden, "another site")
			}
		}
		f.nothingArrived("cross-origin", f.a, before)
	})

	t.Run("forged or expired session and token", func(t *testing.T) {
		before := f.snap(f.a)
		w := f.a.Witnesses[1]
		forged := f.session(w, time.Hour, []byte(strings.Repeat("not the server's secret ", 2)))
		expired := f.session(w, -time.Minute, nil)
		expect(t, "forged session cookie", f.formPost("/ceremonies/"+f.a.Spec.ID+"/review", forged, review, nil), http.StatusSeeOther, "/login")
		expect(t, "expired session cookie", f.formPost("/ceremonies/"+f.a.Spec.ID+"/review", expired, review, nil), http.StatusSeeOther, "/login")
		body := bench.NewSignBody(f.a.Spec, w, "sec-token-1", contract.Approve)
		forgedTok, _ := web.IssueToken(context.Background(), f.stack.Store, []byte(strings.Repeat("not the server's secret ", 2)), w.ID, time.Hour)
		expiredTok, _ := web.IssueToken(context.Background(), f.stack.Store, f.stack.Secret, w.ID, -time.Minute)
		expect(t, "forged API token", f.apiSign(f.a, forgedTok, body), http.StatusUnauthorized, "invalid token")
		expect(t, "expired API token", f.apiSign(f.a, expiredTok, body), http.StatusUnauthorized, "invalid token")
		expect(t, "no API token", f.apiSign(f.a, "", body), http.StatusUnauthorized, "authentication required")
		f.nothingArrived("forged/expired credentials", f.a, before)
	})

	t.Run("ended session and revoked token", func(t *testing.T) {
		// A session logged out and a token revoked (their rows ended, as
		// logout, the account page, an admin or a deactivation do) open
		// nothing, though their signatures and expiry are still good.
		before := f.snap(f.a)
		w := f.a.Witnesses[1]
		cookie := f.session(w, time.Hour, nil)
		tok, err := web.IssueToken(context.Background(), f.stack.Store, f.stack.Secret, w.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		ended, err := f.stack.Store.EndWebSessions(context.Background(), w.ID, "", "", "", "test", store.EndByAdmin, time.Now())
		if err != nil || ended < 2 {
			t.Fatalf("ended %d sessions: %v", ended, err)
		}
		expect(t, "form review with an ended session", f.formPost("/ceremonies/"+f.a.Spec.ID+"/review", cookie, review, nil), http.StatusSeeOther, "/login")
		expect(t, "API sign with a revoked token", f.apiSign(f.a, tok, bench.NewSignBody(f.a.Spec, w, "sec-revoked-1", contract.Approve)),
			http.StatusUnauthorized, "revoked")
		f.nothingArrived("ended credentials", f.a, before)
	})

	t.Run("signature replayed on another ceremony", func(t *testing.T) {
		// The shared witness signs A for real; the very same signed request is
		// then replayed against B, where they are also a witness.
		body := bench.NewSignBody(f.a.Spec, f.shared, "sec-replay-1", contract.Approve)
		beforeA := f.snap(f.a)
		expect(t, "genuine signature on A", f.apiSign(f.a, f.shared.Token, body), http.StatusOK, "")
		if after := f.snap(f.a); after.signatures != beforeA.signatures+1 || after.signCalls != beforeA.signCalls+1 {
			t.Fatalf("the genuine signature did not arrive: before %+v after %+v", beforeA, after)
		}
		beforeB := f.snap(f.b)
		// Refused as a signature that is not over this ceremony's statement
		// (403 bad signature) or as a stale statement (409); either way it
		// must say the statement does not match.
		refused := []int{http.StatusForbidden, http.StatusConflict}
		expectOneOf(t, "replay of A's signed statement on B", f.apiSign(f.b, f.shared.Token, body), refused, "does not match")
		// A fresh idempotency key does not help either.
		again := body
		again.IdempotencyKey = "sec-replay-2"
		expectOneOf(t, "replay on B under a new idempotency key", f.apiSign(f.b, f.shared.Token, again), refused, "does not match")
		f.nothingArrived("replay", f.b, beforeB)
	})

	t.Run("oversized body", func(t *testing.T) {
		before := f.snap(f.a)
		w := f.a.Witnesses[2]
		big := bench.NewSignBody(f.a.Spec, w, "sec-big-1", contract.Approve)
		big.Comment = strings.Repeat("x", 300<<10)
		expect(t, "API sign with a 300 KiB body", f.apiSign(f.a, w.Token, big), http.StatusRequestEntityTooLarge, "too large")
		form := url.Values{"decision": {"approve"}, "key": {formKey()}, "comment": {strings.Repeat("x", 100<<10)}}
		expect(t, "form review with a 100 KiB body",
			f.formPost("/ceremonies/"+f.a.Spec.ID+"/review", f.session(w, time.Hour, nil), form, nil), http.StatusRequestEntityTooLarge, "too large")
		f.nothingArrived("oversized", f.a, before)
	})

	t.Run("rate-limit burst", func(t *testing.T) {
		// One witness fires valid, distinct sign requests until the limiter
		// answers 429, then 5 more. The first is accepted and the rest up to the
		// limit are refused by the workflow's validator (already signed, which
		// leaves no history); every request the limiter refused must not have
		// reached the workflow at all.
		w := f.a.Witnesses[2]
		before := f.snap(f.a)
		var passed, limited int
		for i := 0; i < 100 && limited < 6; i++ {
			got := f.apiSign(f.a, w.Token, bench.NewSignBody(f.a.Spec, w, fmt.Sprintf("sec-burst-%d", i), contract.Approve))
			switch {
			case got.code == http.StatusTooManyRequests:
				limited++
			case limited > 0:
				t.Fatalf("request %d after the limit was reached: HTTP %d %s", i, got.code, trim(got.body))
			default:
				passed++
			}
		}
		after := f.snap(f.a)
		t.Logf("burst: %d requests passed the limiter, %d refused with 429; sign updates sent %d; signatures %d→%d, update events %d→%d",
			passed, limited, after.signCalls-before.signCalls, before.signatures, after.signatures, before.updates, after.updates)
		switch {
		case limited < 6:
			t.Errorf("no 429 after %d requests", passed)
		case after.signCalls-before.signCalls != passed:
			t.Errorf("%d sign updates were sent for %d requests that passed the limiter: refused requests reached the workflow",
				after.signCalls-before.signCalls, passed)
		case after.signatures != before.signatures+1 || after.updates != before.updates+1 || after.signals != before.signals:
			t.Errorf("want exactly one accepted signature from the burst: before %+v after %+v", before, after)
		}
	})
}
