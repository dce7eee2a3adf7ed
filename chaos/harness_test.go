// Package chaos holds fault-injection tests: the worker killed with SIGKILL while
// signatures are in flight, the Ops DB's Postgres stopped for 20 s, the Temporal
// server restarted mid-ceremony, and 500 concurrent signers. Each runs a whole
// stack on loopback (its own throwaway Postgres; a Temporal server, the dev server
// or under GUILDHALL_TEST_TEMPORAL=postgres the PostgreSQL-backed one; the real
// `guildhall worker` binary as a child process; the web app), signs through the
// JSON API like a careful client (same request again after an answer that is not
// a refusal), and ends by comparing exact counts in the Ops DB and running
// `guildhall verify` over the custody chain.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/bench"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/store"
)

// guildhallBin is the binary built once for all tests.
var guildhallBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "guildhall-chaos-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	guildhallBin = filepath.Join(dir, "guildhall")
	build := exec.Command("go", "build", "-o", guildhallBin, "github.com/guildhouse/guildhall/cmd/guildhall")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos: build guildhall:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stackOptions are the chaos tests' defaults: the real worker binary, and the
// development login for the HTML pages.
func startStack(t *testing.T, o bench.StackOptions) *bench.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o.Dir = t.TempDir()
	o.WorkerBinary = guildhallBin
	o.DevLogin = true
	o.NoBaselineWorker = true
	s, err := bench.StartStack(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{"worker.log", "guildhall.log", "temporal.log"} {
				b, _ := os.ReadFile(filepath.Join(o.Dir, f))
				if len(b) > 3000 {
					b = b[len(b)-3000:]
				}
				t.Logf("--- tail of %s ---\n%s", f, b)
			}
		}
		s.Close()
	})
	return s
}

// openCeremonies opens n ceremonies with k witnesses each on the stack.
func openCeremonies(t *testing.T, s *bench.Stack, tag string, n, k int) []bench.Ceremony {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cs, err := bench.NewCeremonies(s.Secret, tag, n, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := bench.OpenCeremonies(ctx, &s.Target, cs, 10); err != nil {
		t.Fatal(err)
	}
	return cs
}

// job is one signature to make.
type job struct {
	c   bench.Ceremony
	w   bench.Witness
	key string
}

func jobsOf(cs []bench.Ceremony) []job {
	var out []job
	// Interleave ceremonies so concurrent signers spread over all of them.
	for k := 0; ; k++ {
		added := false
		for _, c := range cs {
			if k < len(c.Witnesses) {
				out = append(out, job{c: c, w: c.Witnesses[k], key: fmt.Sprintf("chaos-%d-%s", k, c.Spec.ID[strings.LastIndex(c.Spec.ID, "-")+1:])})
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

// signer runs jobs on conc goroutines with SignWithRetry and tallies outcomes.
type signer struct {
	api      *bench.APIClient
	perTry   time.Duration
	deadline time.Time

	mu       sync.Mutex
	attempts []bench.Attempt
	accepted int
}

func (sg *signer) run(ctx context.Context, jobs []job, conc int) {
	ch := make(chan job)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				at := sg.api.SignWithRetry(ctx, j.c, j.w, j.key, sg.perTry, sg.deadline)
				sg.mu.Lock()
				sg.attempts = append(sg.attempts, at)
				if at.OK {
					sg.accepted++
				}
				sg.mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		select {
		case ch <- j:
		case <-ctx.Done():
		}
	}
	close(ch)
	wg.Wait()
}

func (sg *signer) acceptedSoFar() int {
	sg.mu.Lock()
	defer sg.mu.Unlock()
	return sg.accepted
}

// summary counts attempts: signatures accepted, refused, and the failed tries
// clients saw (and retried) along the way, by kind.
func (sg *signer) summary() (ok, failed, retried int, kinds map[string]int) {
	sg.mu.Lock()
	defer sg.mu.Unlock()
	kinds = map[string]int{}
	for _, a := range sg.attempts {
		if a.OK {
			ok++
		} else {
			failed++
		}
		if a.Tries > 1 {
			retried++
		}
		for _, e := range a.Errors {
			kinds[kindOf(e)]++
		}
	}
	return
}

func kindOf(err error) string {
	var he *bench.HTTPError
	if errors.As(err, &he) {
		return fmt.Sprintf("HTTP %d %s", he.Status, he.Title)
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline exceeded") {
		return "client timeout"
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// expectExact checks the Ops DB against the ceremonies: exactly one signature
// row per (ceremony, witness), every ceremony in quorum_reached with k
// approvals, and exactly one signature.accepted custody event per signature.
// expectAllAccepted waits for the signers (done closes when they stop), then
// checks that every signature was accepted, stored exactly once, and that the
// custody chain verifies.
func expectAllAccepted(t *testing.T, s *bench.Stack, cs []bench.Ceremony, sg *signer, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		t.Fatal("signers did not finish within 5 minutes")
	}
	want := len(jobsOf(cs))
	ok, failed, retried, kinds := sg.summary()
	t.Logf("signatures: %d accepted, %d failed; %d needed more than one try; failed tries by answer: %v", ok, failed, retried, kinds)
	if ok != want || failed != 0 {
		t.Errorf("want all %d signatures accepted, got %d accepted and %d failed", want, ok, failed)
	}
	expectExact(t, s, cs)
	verifyChain(t, s)
}

func expectExact(t *testing.T, s *bench.Stack, cs []bench.Ceremony) {
	t.Helper()
	ctx := context.Background()
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.Spec.ID
	}
	var rows []struct {
		CeremonyID string `bun:"ceremony_id"`
		WitnessID  string `bun:"witness_id"`
		N          int    `bun:"n"`
	}
	if err := s.Store.DB.NewSelect().Model((*store.Signature)(nil)).Column("ceremony_id", "witness_id").
		ColumnExpr("count(*) AS n").Where("ceremony_id IN (?)", bunList(ids)).Group("ceremony_id", "witness_id").
		Scan(ctx, &rows); err != nil {
		t.Fatal(err)
	}
	got := map[[2]string]int{}
	total := 0
	for _, r := range rows {
		got[[2]string{r.CeremonyID, r.WitnessID}] = r.N
		total += r.N
	}
	want, missing, dups := 0, 0, 0
	for _, c := range cs {
		for _, w := range c.Witnesses {
			want++
			switch n := got[[2]string{c.Spec.ID, w.ID}]; {
			case n == 0:
				missing++
			case n > 1:
				dups++
			}
		}
	}
	events, err := s.Store.DB.NewSelect().Model((*store.CustodyEvent)(nil)).
		Where("type = ? AND ceremony_id IN (?)", "signature.accepted", bunList(ids)).Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var statuses []struct {
		Status    string `bun:"status"`
		Approvals int    `bun:"approvals"`
		N         int    `bun:"n"`
	}
	if err := s.Store.DB.NewSelect().Model((*store.Ceremony)(nil)).Column("status", "approvals").ColumnExpr("count(*) AS n").
		Where("id IN (?)", bunList(ids)).Group("status", "approvals").Scan(ctx, &statuses); err != nil {
		t.Fatal(err)
	}
	t.Logf("Ops DB: %d signature rows for %d signatures (missing %d, duplicated %d), %d signature.accepted custody events, ceremonies by status/approvals %v",
		total, want, missing, dups, events, statuses)
	if total != want || missing != 0 || dups != 0 || int(events) != want {
		t.Errorf("want exactly %d signature rows and custody events, one per witness: got %d rows (missing %d, duplicated %d), %d events",
			want, total, missing, dups, events)
	}
	k := len(cs[0].Witnesses)
	if len(statuses) != 1 || statuses[0].Status != string(contract.StatusQuorumReached) || statuses[0].Approvals != k || statuses[0].N != len(cs) {
		t.Errorf("want all %d ceremonies quorum_reached with %d approvals, got %v", len(cs), k, statuses)
	}
}

// verifyChain runs `guildhall verify` against the stack's Ops DB (or, while that
// command does not exist, the same check through the custody package).
func verifyChain(t *testing.T, s *bench.Stack) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if exec.CommandContext(ctx, guildhallBin, "verify", "--help").Run() != nil {
		t.Log("`guildhall verify` is not built yet: verifying the chain with the custody package")
		if err := bench.VerifyChain(ctx, s.Store); err != nil {
			t.Fatalf("custody chain: %v", err)
		}
		return
	}
	cmd := exec.CommandContext(ctx, guildhallBin, "verify")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+s.DBURL, "LOG_FORMAT=text")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("guildhall verify: %v\n%s", err, out)
	}
	t.Logf("guildhall verify: %s", strings.TrimSpace(lastLines(string(out), 3)))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
