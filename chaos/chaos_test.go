package chaos

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/bench"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/web"
)

// TestKillWorkerWhileSigning kills the worker process with SIGKILL while
// signatures are in flight and starts it again: every signature a client was
// told was accepted, or got on retrying, is in the Ops DB exactly once, and
// every ceremony reaches quorum.
func TestKillWorkerWhileSigning(t *testing.T) {
	s := startStack(t, bench.StackOptions{})
	cs := openCeremonies(t, s, "kill", 20, 5)
	jobs := jobsOf(cs)
	sg := &signer{api: bench.NewAPIClient(s.BaseURL, 10), perTry: 45 * time.Second, deadline: time.Now().Add(4 * time.Minute)}
	done := make(chan struct{})
	go func() { sg.run(context.Background(), jobs, 10); close(done) }()

	testenv.Eventually(t, 3*time.Minute, "a quarter of the signatures", func() bool { return sg.acceptedSoFar() >= len(jobs)/4 })
	before := sg.acceptedSoFar()
	pid := s.Worker.PID()
	s.Worker.Kill()
	t.Logf("worker (pid %d) killed with SIGKILL after %d of %d signatures were accepted, 10 signers in flight", pid, before, len(jobs))
	time.Sleep(3 * time.Second)
	if err := s.Worker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("worker restarted (pid %d)", s.Worker.PID())
	expectAllAccepted(t, s, cs, sg, done)
}

// TestPostgresOutage stops the Ops DB's Postgres for 20 s while witnesses sign:
// meanwhile /health answers 503 with the reason and the pages say the database
// is unavailable; activities retry; afterwards nothing is lost or doubled.
func TestPostgresOutage(t *testing.T) {
	s := startStack(t, bench.StackOptions{})
	cs := openCeremonies(t, s, "pgdown", 20, 5)
	jobs := jobsOf(cs)
	viewer := login(t, s.BaseURL, cs[0].Witnesses[0].ID)
	sg := &signer{api: bench.NewAPIClient(s.BaseURL, 10), perTry: 45 * time.Second, deadline: time.Now().Add(4 * time.Minute)}
	done := make(chan struct{})
	go func() { sg.run(context.Background(), jobs, 10); close(done) }()

	testenv.Eventually(t, 3*time.Minute, "a fifth of the signatures", func() bool { return sg.acceptedSoFar() >= len(jobs)/5 })
	ctx := context.Background()
	if err := s.PG.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	t.Logf("Postgres stopped after %d of %d signatures were accepted", sg.acceptedSoFar(), len(jobs))

	var (
		polls, health503, page503, api503 int
		healthBody                        string
		maxAttempt                        int32
		lastFailure                       string
	)
	for time.Since(stopped) < 20*time.Second {
		polls++
		code, body := get(t, s.BaseURL+"/health", nil)
		if code == http.StatusServiceUnavailable && strings.HasPrefix(body, "degraded:") && strings.Contains(body, "database") {
			health503++
			healthBody = body
		}
		if code, body := get(t, s.BaseURL+"/ceremonies", viewer); code == http.StatusServiceUnavailable && strings.Contains(body, "Temporarily unavailable") {
			page503++
		}
		if code, _ := get(t, s.BaseURL+"/api/v1/ceremonies", map[string]string{"Authorization": "Bearer " + cs[0].Witnesses[0].Token}); code == http.StatusServiceUnavailable {
			api503++
		}
		// Activities caught by the outage are retried by Temporal.
		for _, c := range cs {
			d, err := s.Temporal.DescribeWorkflowExecution(ctx, contract.WorkflowID(c.Spec.ID), "")
			if err != nil {
				continue
			}
			for _, pa := range d.PendingActivities {
				if pa.Attempt > maxAttempt {
					maxAttempt = pa.Attempt
					lastFailure = pa.GetLastFailure().GetMessage()
				}
			}
		}
		time.Sleep(time.Second)
	}
	if err := s.PG.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Postgres started again after %s", time.Since(stopped).Round(100*time.Millisecond))
	t.Logf("during the outage: /health 503 %d/%d (%q), /ceremonies page 503 %d/%d, API list 503 %d/%d; "+
		"highest activity attempt %d (last failure %q)", health503, polls, healthBody, page503, polls, api503, polls, maxAttempt, lastFailure)
	if health503 != polls || page503 != polls || api503 != polls {
		t.Errorf("every probe during the outage should answer 503 with the reason")
	}
	// Activity failures as the worker counts them (regular and local
	// activities alike; local ones never show as pending on the server).
	failures := 0.0
	if m, err := bench.Scrape(s.WorkerMetrics); err == nil {
		for k, v := range m {
			if strings.Contains(k, "activity_execution_failed") {
				failures += v
			}
		}
	}
	t.Logf("the worker counted %.0f failed activity executions", failures)
	// Local activities retry inside the worker, so its log is where an
	// operator sees them (worker.failureLog).
	wlog, _ := os.ReadFile(filepath.Join(s.Dir, "worker.log"))
	retried := strings.Count(string(wlog), "local activity failed; retrying")
	t.Logf("the worker logged %d failed local-activity tries", retried)
	if retried == 0 {
		t.Errorf("the worker's log shows no failed local-activity try during the outage")
	}
	if maxAttempt < 2 && failures == 0 {
		t.Errorf("no activity was seen retrying during the outage (highest pending attempt %d, no failures in the worker's metrics)", maxAttempt)
	}
	testenv.Eventually(t, 30*time.Second, "/health 200 after the restart", func() bool {
		code, _ := get(t, s.BaseURL+"/health", nil)
		return code == http.StatusOK
	})
	expectAllAccepted(t, s, cs, sg, done)
}

// TestTemporalRestart restarts the Temporal server (the dev server with its
// state in a file, or the PostgreSQL-backed one) while witnesses sign, once gracefully and once after SIGKILL: the worker and the web
// app reconnect and every ceremony resumes and completes.
func TestTemporalRestart(t *testing.T) {
	s := startStack(t, bench.StackOptions{TemporalPersistent: true})
	cs := openCeremonies(t, s, "restart", 20, 5)
	jobs := jobsOf(cs)
	sg := &signer{api: bench.NewAPIClient(s.BaseURL, 10), perTry: 45 * time.Second, deadline: time.Now().Add(4 * time.Minute)}
	done := make(chan struct{})
	go func() { sg.run(context.Background(), jobs, 10); close(done) }()

	testenv.Eventually(t, 3*time.Minute, "a quarter of the signatures", func() bool { return sg.acceptedSoFar() >= len(jobs)/4 })
	before := sg.acceptedSoFar()
	t0 := time.Now()
	if err := s.Server.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s server stopped (SIGTERM) and started again in %s after %d of %d signatures were accepted",
		s.Server.Kind(), time.Since(t0).Round(100*time.Millisecond), before, len(jobs))
	// Then the hard way: SIGKILL, no chance to flush or say goodbye.
	testenv.Eventually(t, 3*time.Minute, "two thirds of the signatures", func() bool { return sg.acceptedSoFar() >= 2*len(jobs)/3 })
	before = sg.acceptedSoFar()
	t0 = time.Now()
	s.Server.Kill()
	if err := s.Server.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s server killed (SIGKILL) and started again in %s after %d of %d signatures were accepted",
		s.Server.Kind(), time.Since(t0).Round(100*time.Millisecond), before, len(jobs))
	expectAllAccepted(t, s, cs, sg, done)
}

// TestFiveHundredConcurrentSigners has 500 witnesses of 100 ceremonies sign at
// the same moment, once each, with no retries: 0 errors, 0 lost, 0 duplicates.
// Then all 500 send their request again: the same answer, nothing new stored.
func TestFiveHundredConcurrentSigners(t *testing.T) {
	s := startStack(t, bench.StackOptions{})
	cs := openCeremonies(t, s, "c500", 100, 5)
	jobs := jobsOf(cs)
	api := bench.NewAPIClient(s.BaseURL, len(jobs))
	bodies := make([]bench.SignBody, len(jobs))
	for i, j := range jobs {
		bodies[i] = bench.NewSignBody(j.c.Spec, j.w, j.key, contract.Approve)
	}
	wave := func(name string) (errs int, kinds map[string]int, took time.Duration) {
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			mu    sync.Mutex
			nerr  atomic.Int64
		)
		kinds = map[string]int{}
		for i, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				defer cancel()
				if err := api.Sign(ctx, j.c.Spec.ID, j.w.Token, bodies[i]); err != nil {
					nerr.Add(1)
					mu.Lock()
					kinds[kindOf(err)]++
					mu.Unlock()
				}
			}()
		}
		t0 := time.Now()
		close(start)
		wg.Wait()
		took = time.Since(t0)
		t.Logf("%s: %d concurrent requests in %s, %d errors %v", name, len(jobs), took.Round(time.Millisecond), nerr.Load(), kinds)
		return int(nerr.Load()), kinds, took
	}
	if errs, _, _ := wave("first wave"); errs != 0 {
		t.Errorf("want 0 errors from %d concurrent signers, got %d", len(jobs), errs)
	}
	expectExact(t, s, cs)
	if errs, _, _ := wave("repeat wave (same requests again)"); errs != 0 {
		t.Errorf("repeating an accepted request must get the same answer, got %d errors", errs)
	}
	expectExact(t, s, cs)
	verifyChain(t, s)
}

// login uses the development login and returns the session cookie header.
func login(t *testing.T, base, witness string) map[string]string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(base+"/login/dev", url.Values{"witness": {witness}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == web.SessionCookieName {
			return map[string]string{"Cookie": ck.Name + "=" + ck.Value}
		}
	}
	t.Fatalf("development login as %s: HTTP %d and no session cookie", witness, resp.StatusCode)
	return nil
}

func get(t *testing.T, u string, headers map[string]string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}
