package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/store"
)

// Config is one signing benchmark.
type Config struct {
	Ceremonies int // N ceremonies per run
	Witnesses  int // K witnesses per ceremony (every one signs: threshold K)
	Clients    int // C concurrent HTTP clients (and concurrent baseline callers)
	Runs       int // measured runs (each: baseline and Guildhall, alternating order)
	// Warmup runs one small unrecorded round of each phase first.
	Warmup bool
	// PhaseTimeout caps one phase; requests still open then count as errors.
	PhaseTimeout time.Duration
	// RequestTimeout caps one request.
	RequestTimeout time.Duration
	// Progress receives one line per phase (optional).
	Progress io.Writer
	// OnPhase is called around each Guildhall phase (e.g. to profile); run 0 is
	// the warm-up.
	OnPhase func(run int, start bool)
	// Source is the ceremonies' Spec.Source: "" is "bench"; contract.SourceCluster
	// makes them cluster ceremonies, whose CeremonyAttestation the workflow keeps
	// current (answered by StartAttestationStub or a running watcher).
	Source string
}

func (c *Config) defaults() {
	if c.Ceremonies <= 0 {
		c.Ceremonies = 100
	}
	if c.Witnesses <= 0 {
		c.Witnesses = 5
	}
	if c.Clients <= 0 {
		c.Clients = 20
	}
	if c.Runs <= 0 {
		c.Runs = 3
	}
	if c.PhaseTimeout <= 0 {
		c.PhaseTimeout = 10 * time.Minute
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 60 * time.Second
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// Phase is one measured phase with its resource use.
type Phase struct {
	Sample
	Load string // 1-minute load average at the end of the phase
	// CPU is CPU time spent per process during the phase ("bench process" is
	// this one: client, and in self-contained mode also the worker and web app).
	CPU map[string]time.Duration
	// Server counts the Temporal server's requests during the phase by
	// operation (Target.ServerMetrics), e.g. "persistence GetNamespace".
	Server map[string]float64
}

// Check is what the Ops DB holds after a Guildhall phase.
type Check struct {
	Accepted   int // signatures the API accepted (2xx)
	Rows       int // signature rows for the run's ceremonies
	Missing    int // accepted but no row
	Duplicates int // (ceremony, witness) pairs with more than one row
	Unexpected int // rows for requests that got an error answer
	// NotAtAnswer counts sampled accepted signatures whose row was not visible
	// when the answer arrived (must be 0: the answer means "committed").
	NotAtAnswer, Sampled int
	QuorumReached        int // ceremonies in quorum_reached
}

func (c Check) OK() bool {
	return c.Missing == 0 && c.Duplicates == 0 && c.NotAtAnswer == 0 && c.Rows == c.Accepted+c.Unexpected
}

// RunResult is one run: the baseline, Guildhall, and the check.
type RunResult struct {
	Run           int
	BaselineFirst bool
	Baseline      Phase
	Guildhall     Phase
	Check         Check
}

// ThroughputRatio is Guildhall's throughput over the baseline's (goal >= 0.6).
func (r RunResult) ThroughputRatio() float64 {
	return ratio(r.Guildhall.Throughput(), r.Baseline.Throughput())
}

// P99Ratio is Guildhall's p99 latency over the baseline's (goal <= 2.0).
func (r RunResult) P99Ratio() float64 {
	return ratio(float64(r.Guildhall.Quantile(0.99)), float64(r.Baseline.Quantile(0.99)))
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Report is the whole signing benchmark.
type Report struct {
	Config  Config
	Started time.Time
	Env     Env
	Server  string // the Temporal server, as Target.ServerName
	Runs    []RunResult
	Chain   string // custody chain verification result
}

// ThroughputRatio and P99Ratio are min/median/max over the runs.
func (r *Report) ThroughputRatio() Spread {
	var v []float64
	for _, x := range r.Runs {
		v = append(v, x.ThroughputRatio())
	}
	return spreadOf(v)
}

func (r *Report) P99Ratio() Spread {
	var v []float64
	for _, x := range r.Runs {
		v = append(v, x.P99Ratio())
	}
	return spreadOf(v)
}

// item is one signature to make.
type item struct {
	spec    contract.Spec
	witness Witness
	key     string
}

// RunSign runs the signing benchmark against t.
func RunSign(ctx context.Context, t *Target, cfg Config) (*Report, error) {
	cfg.defaults()
	rep := &Report{Config: cfg, Started: time.Now(), Env: CurrentEnv(), Server: t.ServerName}
	api := NewAPIClient(t.BaseURL, cfg.Clients)
	if cfg.Warmup {
		w := cfg
		w.Ceremonies, w.Runs = max(1, min(cfg.Ceremonies, 2*cfg.Clients/max(cfg.Witnesses, 1))), 1
		if _, err := runOnce(ctx, t, api, w, 0, true); err != nil {
			return rep, fmt.Errorf("warm-up: %w", err)
		}
	}
	for run := 1; run <= cfg.Runs; run++ {
		res, err := runOnce(ctx, t, api, cfg, run, run%2 == 1)
		if err != nil {
			return rep, fmt.Errorf("run %d: %w", run, err)
		}
		rep.Runs = append(rep.Runs, res)
	}
	if err := VerifyChain(ctx, t.Store); err != nil {
		rep.Chain = "BROKEN: " + err.Error()
	} else {
		rep.Chain = "ok"
	}
	return rep, nil
}

func runOnce(ctx context.Context, t *Target, api *APIClient, cfg Config, run int, baselineFirst bool) (RunResult, error) {
	res := RunResult{Run: run, BaselineFirst: baselineFirst}
	tag := fmt.Sprintf("r%d-%s", run, randomKey()[:6])
	items, specs, err := provision(ctx, t, cfg, tag)
	if err != nil {
		return res, err
	}
	baseline := func() {
		res.Baseline = measure(ctx, t, cfg, "baseline", items, func(ctx context.Context, it item) (func(context.Context) error, error) {
			req := contract.SignRequest{IdempotencyKey: "bench:" + it.key, WitnessID: it.witness.ID, Decision: contract.Approve, Via: "bench"}
			return func(ctx context.Context) error { return signBaseline(ctx, t.Temporal, it.spec.ID, req) }, nil
		}, nil)
	}
	var (
		mu       sync.Mutex
		accepted = map[[2]string]bool{}
		failed   = map[[2]string]bool{}
		sampled  atomic.Int64
		notAt    atomic.Int64
		checks   sync.WaitGroup
	)
	guildhall := func() {
		if cfg.OnPhase != nil {
			cfg.OnPhase(run, true)
		}
		n := 0
		res.Guildhall = measure(ctx, t, cfg, "guildhall", items, func(ctx context.Context, it item) (func(context.Context) error, error) {
			body := NewSignBody(it.spec, it.witness, it.key, contract.Approve)
			return func(ctx context.Context) error { return api.Sign(ctx, it.spec.ID, it.witness.Token, body) }, nil
		}, func(it item, err error) {
			k := [2]string{it.spec.ID, it.witness.ID}
			mu.Lock()
			if err == nil {
				accepted[k] = true
				n++
			} else {
				failed[k] = true
			}
			sample := err == nil && n%10 == 0
			mu.Unlock()
			if sample {
				// The answer means the row is committed: look for it right away
				// (asynchronously, so the check does not slow the client down).
				sampled.Add(1)
				checks.Add(1)
				go func() {
					defer checks.Done()
					if ok, _ := signatureRowExists(ctx, t.Store, k[0], k[1]); !ok {
						notAt.Add(1)
					}
				}()
			}
		})
		if cfg.OnPhase != nil {
			cfg.OnPhase(run, false)
		}
	}
	if baselineFirst {
		baseline()
		guildhall()
	} else {
		guildhall()
		baseline()
	}
	checks.Wait()
	res.Check, err = check(ctx, t.Store, tag, accepted, failed)
	res.Check.NotAtAnswer, res.Check.Sampled = int(notAt.Load()), int(sampled.Load())
	if err != nil {
		return res, err
	}
	_ = specs
	for _, p := range []*Phase{&res.Baseline, &res.Guildhall} {
		fmt.Fprintf(cfg.Progress, "run %d %-9s %5d ok %3d errors  %7.1f/s  p50 %6s p95 %6s p99 %6s ms  load %s\n",
			run, p.Name, p.OK(), p.Errors, p.Throughput(), ms(p.Quantile(.5)), ms(p.Quantile(.95)), ms(p.Quantile(.99)), p.Load)
	}
	return res, nil
}

// Ceremony is a bench ceremony and its witnesses.
type Ceremony struct {
	Spec      contract.Spec
	Witnesses []Witness
}

// NewCeremonies describes n ceremonies "bench/<tag>-<i>", each with k fresh
// witnesses (ed25519 keys, API tokens) and threshold k, so every witness's
// signature is accepted and the last one reaches quorum.
func NewCeremonies(secret []byte, tag string, n, k int) ([]Ceremony, error) {
	now := time.Now()
	var out []Ceremony
	for i := range n {
		c := Ceremony{Spec: contract.Spec{
			ID: fmt.Sprintf("bench/%s-%04d", tag, i), Kind: contract.KindRelease,
			Title:     fmt.Sprintf("bench %s #%d", tag, i),
			Artifact:  contract.Artifact{Name: "bench-" + tag, Digest: fmt.Sprintf("sha256:%064x", rand.Uint64())},
			Initiator: "bench-initiator@bench.test",
			Quorum:    contract.Quorum{Threshold: k},
			Deadline:  now.Add(2 * time.Hour).UTC().Truncate(time.Second),
			Source:    "bench",
		}}
		for j := range k {
			w, err := NewWitness(fmt.Sprintf("w-%s-%04d-%02d@bench.test", tag, i, j), secret)
			if err != nil {
				return nil, err
			}
			c.Witnesses = append(c.Witnesses, w)
			c.Spec.Witnesses = append(c.Spec.Witnesses, contract.WitnessRef{ID: w.ID, Role: Role})
		}
		out = append(out, c)
	}
	return out, nil
}

// RegisterWitnesses writes the ceremonies' witnesses, their public keys and
// their API tokens to the Ops DB. Like a seed, it writes the rows directly: no
// custody events, no proofs of possession (the bench made every key itself).
func RegisterWitnesses(ctx context.Context, s *store.Store, cs []Ceremony) error {
	var (
		rows   []store.Witness
		tokens []store.WebSession
	)
	now := time.Now()
	for _, c := range cs {
		for _, w := range c.Witnesses {
			rows = append(rows, w.Record(now))
			tokens = append(tokens, w.TokenRow)
		}
	}
	for start := 0; start < len(rows); start += 500 {
		batch := rows[start:min(start+500, len(rows))]
		if _, err := s.DB.NewInsert().Model(&batch).Exec(ctx); err != nil {
			return fmt.Errorf("register bench witnesses: %w", err)
		}
	}
	if err := s.CreateWebSessions(ctx, tokens...); err != nil {
		return fmt.Errorf("record bench witnesses' tokens: %w", err)
	}
	return nil
}

// OpenCeremonies registers the witnesses, opens the ceremonies (conc at a time)
// and waits until the Ops DB has all of them and no workflow has work pending.
func OpenCeremonies(ctx context.Context, t *Target, cs []Ceremony, conc int) error {
	if err := RegisterWitnesses(ctx, t.Store, cs); err != nil {
		return err
	}
	cc := ceremonyclient.New(t.Temporal)
	if err := parallel(ctx, conc, len(cs), func(ctx context.Context, i int) error {
		_, err := cc.Open(ctx, cs[i].Spec)
		return err
	}); err != nil {
		return err
	}
	return waitOpened(ctx, t, cs, conc, contract.WorkflowID)
}

// waitOpened waits until the Ops DB records every ceremony and each of the
// workflows named by ids is idle.
func waitOpened(ctx context.Context, t *Target, cs []Ceremony, conc int, ids ...func(string) string) error {
	// Bounded, but long enough for 10,000 ceremonies on a small machine.
	limit := 5*time.Minute + time.Duration(len(cs))*100*time.Millisecond
	deadline := time.Now().Add(limit)
	want := make([]string, len(cs))
	for i, c := range cs {
		want[i] = c.Spec.ID
	}
	for {
		n, err := t.Store.DB.NewSelect().Model((*store.Ceremony)(nil)).Where("id IN (?)", bun.List(want)).Count(ctx)
		if err != nil {
			return err
		}
		if int(n) == len(cs) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d ceremonies recorded in the Ops DB after %s", n, len(cs), limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return parallel(ctx, conc, len(cs), func(ctx context.Context, i int) error {
		for _, id := range ids {
			if err := waitIdle(ctx, t.Temporal, id(cs[i].Spec.ID), deadline); err != nil {
				return err
			}
		}
		return nil
	})
}

// provision opens N ceremonies with K fresh witnesses each (each witness signs
// once, so per-witness rate limits never bind) and N baseline workflows, waits
// until all are idle, and returns the signatures to make in a shuffled order.
func provision(ctx context.Context, t *Target, cfg Config, tag string) ([]item, []contract.Spec, error) {
	cs, err := NewCeremonies(t.Secret, tag, cfg.Ceremonies, cfg.Witnesses)
	if err != nil {
		return nil, nil, err
	}
	for i := range cs {
		if cfg.Source != "" {
			cs[i].Spec.Source = cfg.Source
		}
	}
	if err := RegisterWitnesses(ctx, t.Store, cs); err != nil {
		return nil, nil, err
	}
	cc := ceremonyclient.New(t.Temporal)
	err = parallel(ctx, cfg.Clients, len(cs), func(ctx context.Context, i int) error {
		if _, err := cc.Open(ctx, cs[i].Spec); err != nil {
			return err
		}
		ids := make([]string, 0, len(cs[i].Witnesses))
		for _, w := range cs[i].Witnesses {
			ids = append(ids, w.ID)
		}
		return startBaseline(ctx, t.Temporal, cs[i].Spec.ID, ids)
	})
	if err != nil {
		return nil, nil, err
	}
	if err := waitOpened(ctx, t, cs, cfg.Clients, contract.WorkflowID, baselineWorkflowID); err != nil {
		return nil, nil, err
	}
	var (
		items []item
		specs []contract.Spec
	)
	for _, c := range cs {
		specs = append(specs, c.Spec)
		for _, w := range c.Witnesses {
			items = append(items, item{spec: c.Spec, witness: w, key: randomKey()})
		}
	}
	rand.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	return items, specs, nil
}

// waitIdle waits until the workflow has no workflow task or activity pending.
func waitIdle(ctx context.Context, c client.Client, id string, deadline time.Time) error {
	for {
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			return fmt.Errorf("describe %s: %w", id, err)
		}
		if d.PendingWorkflowTask == nil && len(d.PendingActivities) == 0 &&
			d.WorkflowExecutionInfo.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("workflow %s still busy", id)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// parallel runs fn for 0..n-1 on conc goroutines and returns the first error.
func parallel(ctx context.Context, conc, n int, fn func(context.Context, int) error) error {
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					errOnce.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// measure makes every signature with cfg.Clients concurrent callers. prepare
// builds the request outside the timed section; done sees each outcome.
func measure(ctx context.Context, t *Target, cfg Config, name string, items []item,
	prepare func(context.Context, item) (func(context.Context) error, error), done func(item, error)) Phase {
	ph := Phase{Sample: Sample{Name: name, ErrorKinds: map[string]int{}}, CPU: map[string]time.Duration{}}
	srv0 := serverSnapshot(t)
	cpu0 := cpuSnapshot(t)
	pctx, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer cancel()
	var (
		next atomic.Int64
		mu   sync.Mutex
		wg   sync.WaitGroup
		lats = make([]time.Duration, 0, len(items))
	)
	start := time.Now()
	var last time.Time
	for range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(items) || pctx.Err() != nil {
					return
				}
				it := items[i]
				send, err := prepare(pctx, it)
				var lat time.Duration
				if err == nil {
					rctx, rcancel := context.WithTimeout(pctx, cfg.RequestTimeout)
					t0 := time.Now()
					err = send(rctx)
					lat = time.Since(t0)
					rcancel()
				}
				end := time.Now()
				mu.Lock()
				if err == nil {
					lats = append(lats, lat)
				} else {
					ph.Errors++
					ph.ErrorKinds[errorKind(err)]++
				}
				if end.After(last) {
					last = end
				}
				mu.Unlock()
				if done != nil {
					done(it, err)
				}
			}
		}()
	}
	wg.Wait()
	if missed := len(items) - len(lats) - ph.Errors; missed > 0 {
		ph.Errors += missed
		ph.ErrorKinds["not sent: phase timed out"] += missed
	}
	ph.Latencies, ph.Wall, ph.Load = lats, last.Sub(start), loadAvg()
	cpu1 := cpuSnapshot(t)
	for k, v := range cpu1 {
		ph.CPU[k] = v - cpu0[k]
	}
	if srv1 := serverSnapshot(t); srv0 != nil && srv1 != nil {
		ph.Server = map[string]float64{}
		for k, v := range srv1 {
			ph.Server[k] = v - srv0[k]
		}
	}
	fmt.Fprintf(cfg.Progress, "  %s: %d signatures in %s\n", name, len(lats), ph.Wall.Round(time.Millisecond))
	return ph
}

func cpuSnapshot(t *Target) map[string]time.Duration {
	out := map[string]time.Duration{"bench process": selfCPU()}
	for _, p := range t.Procs {
		if pids, err := p.Find(); err == nil {
			out[p.Name] = cpuOf(pids)
		}
	}
	return out
}

// errorKind shortens an error for the report's error table.
func errorKind(err error) string {
	var he *HTTPError
	if errors.As(err, &he) {
		return fmt.Sprintf("HTTP %d %s", he.Status, he.Title)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	s := err.Error()
	if i := strings.IndexAny(s, ":("); i > 0 && i < 60 {
		s = s[:i]
	}
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

func signatureRowExists(ctx context.Context, s *store.Store, ceremonyID, witnessID string) (bool, error) {
	return s.DB.NewSelect().Model((*store.Signature)(nil)).
		Where("ceremony_id = ? AND witness_id = ?", ceremonyID, witnessID).Exists(ctx)
}

// check compares the run's signature rows with the API's answers.
func check(ctx context.Context, s *store.Store, tag string, accepted, failed map[[2]string]bool) (Check, error) {
	c := Check{Accepted: len(accepted)}
	var rows []struct {
		CeremonyID string `bun:"ceremony_id"`
		WitnessID  string `bun:"witness_id"`
		N          int    `bun:"n"`
	}
	err := s.DB.NewSelect().Model((*store.Signature)(nil)).Column("ceremony_id", "witness_id").ColumnExpr("count(*) AS n").
		Where("ceremony_id LIKE ?", "bench/"+tag+"-%").Group("ceremony_id", "witness_id").Scan(ctx, &rows)
	if err != nil {
		return c, fmt.Errorf("count signature rows: %w", err)
	}
	seen := map[[2]string]bool{}
	for _, r := range rows {
		k := [2]string{r.CeremonyID, r.WitnessID}
		seen[k] = true
		c.Rows += r.N
		if r.N > 1 {
			c.Duplicates++
		}
		if !accepted[k] {
			c.Unexpected++
		}
	}
	for k := range accepted {
		if !seen[k] {
			c.Missing++
		}
	}
	n, err := s.DB.NewSelect().Model((*store.Ceremony)(nil)).
		Where("id LIKE ? AND status = ?", "bench/"+tag+"-%", string(contract.StatusQuorumReached)).Count(ctx)
	c.QuorumReached = int(n)
	return c, err
}
