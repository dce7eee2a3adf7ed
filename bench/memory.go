package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/guildhouse/guildhall/contract"
)

// MemoryConfig is the worker-memory benchmark: the RSS of a `guildhall worker`
// process with Ceremonies open, idle ceremonies, for each sticky-cache size.
type MemoryConfig struct {
	Ceremonies int   // open ceremonies (10,000)
	Witnesses  int   // per ceremony
	CacheSizes []int // WORKFLOW_CACHE_SIZE values; 0 = the SDK default (10,000)
	// Probe signatures are made afterwards on random ceremonies, one at a time,
	// to show what a small cache costs: a ceremony evicted from the cache is
	// replayed from its history on its next message.
	Probe int
	// Settle is how long the worker idles before the measurement. Go collects
	// garbage only when allocating, or every 2 minutes when idle, and returns
	// freed memory to the OS gradually after that; an idle ceremony is idle
	// for hours, so the default (150 s) waits for the forced collection.
	Settle   time.Duration
	Binary   string // the guildhall binary (its `worker` subcommand is measured)
	Stack    StackOptions
	Progress io.Writer
}

// MemoryRow is one cache size.
type MemoryRow struct {
	CacheSize        int
	RSSIdle, RSSOpen int64 // worker RSS before opening and with all open and idle
	BytesPerCeremony float64
	OpenTook         time.Duration
	Probe            Sample
	Load             string
	// From the worker's /metrics with all open: goroutines, Go heap and stacks
	// in use, and workflows in the sticky cache.
	Goroutines, HeapInuse, StackInuse, Cached float64
}

// MemoryReport is the worker-memory benchmark result.
type MemoryReport struct {
	Config  MemoryConfig
	Started time.Time
	Env     Env
	Rows    []MemoryRow
}

// RunMemory measures each cache size on a fresh stack.
func RunMemory(ctx context.Context, cfg MemoryConfig) (*MemoryReport, error) {
	if cfg.Ceremonies <= 0 {
		cfg.Ceremonies = 10_000
	}
	if cfg.Witnesses <= 0 {
		cfg.Witnesses = 3
	}
	if len(cfg.CacheSizes) == 0 {
		cfg.CacheSizes = []int{0, 2000, 500}
	}
	if cfg.Probe <= 0 {
		cfg.Probe = 100
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 150 * time.Second
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	rep := &MemoryReport{Config: cfg, Started: time.Now(), Env: CurrentEnv()}
	for _, size := range cfg.CacheSizes {
		row, err := memoryOnce(ctx, cfg, size)
		if err != nil {
			return rep, fmt.Errorf("cache size %d: %w", size, err)
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

func memoryOnce(ctx context.Context, cfg MemoryConfig, cacheSize int) (MemoryRow, error) {
	row := MemoryRow{CacheSize: cacheSize}
	o := cfg.Stack
	o.WorkerBinary, o.NoBaselineWorker = cfg.Binary, true
	o.WorkerEnv = slices.Clone(o.WorkerEnv)
	if cacheSize > 0 {
		o.WorkerEnv = append(o.WorkerEnv, "WORKFLOW_CACHE_SIZE="+strconv.Itoa(cacheSize))
	}
	fmt.Fprintf(cfg.Progress, "cache %s: starting a stack with the worker as a child process ...\n", cacheName(cacheSize))
	s, err := StartStack(ctx, o)
	if err != nil {
		return row, err
	}
	defer s.Close()
	time.Sleep(5 * time.Second) // pollers up, start-up garbage collected
	if row.RSSIdle, err = settledRSS(s.Worker.PID()); err != nil {
		return row, err
	}
	cs, err := NewCeremonies(s.Secret, "mem", cfg.Ceremonies, cfg.Witnesses)
	if err != nil {
		return row, err
	}
	fmt.Fprintf(cfg.Progress, "cache %s: worker RSS %s idle; opening %d ceremonies ...\n", cacheName(cacheSize), mib(row.RSSIdle), cfg.Ceremonies)
	t0 := time.Now()
	if err := OpenCeremonies(ctx, &s.Target, cs, 20); err != nil {
		return row, err
	}
	row.OpenTook = time.Since(t0)
	for waited := time.Duration(0); waited < cfg.Settle; waited += 15 * time.Second {
		time.Sleep(min(15*time.Second, cfg.Settle-waited))
		rss, _ := RSS(s.Worker.PID())
		m, _ := Scrape(s.WorkerMetrics, "go_memstats_heap_inuse_bytes")
		fmt.Fprintf(cfg.Progress, "  settling %3.0fs: RSS %s, heap in use %s\n", (waited + 15*time.Second).Seconds(), mib(rss),
			mib(int64(m["go_memstats_heap_inuse_bytes"])))
	}
	if row.RSSOpen, err = settledRSS(s.Worker.PID()); err != nil {
		return row, err
	}
	row.BytesPerCeremony = float64(row.RSSOpen-row.RSSIdle) / float64(cfg.Ceremonies)
	row.Load = loadAvg()
	if m, err := Scrape(s.WorkerMetrics); err == nil {
		row.Goroutines, row.HeapInuse, row.StackInuse = m["go_goroutines"], m["go_memstats_heap_inuse_bytes"], m["go_memstats_stack_inuse_bytes"]
		for k, v := range m {
			if strings.Contains(k, "sticky_cache_size") {
				row.Cached = v
			}
		}
	} else {
		fmt.Fprintf(cfg.Progress, "worker metrics: %v\n", err)
	}
	fmt.Fprintf(cfg.Progress, "cache %s: %d ceremonies open in %s; worker RSS %s (%.1f KB per ceremony), %.0f cached, %.0f goroutines, heap %s, stacks %s; probing %d signatures ...\n",
		cacheName(cacheSize), cfg.Ceremonies, row.OpenTook.Round(time.Second), mib(row.RSSOpen), row.BytesPerCeremony/1024,
		row.Cached, row.Goroutines, mib(int64(row.HeapInuse)), mib(int64(row.StackInuse)), cfg.Probe)
	api := NewAPIClient(s.BaseURL, 1)
	row.Probe = Sample{Name: "probe", ErrorKinds: map[string]int{}}
	for _, i := range rand.Perm(len(cs))[:min(cfg.Probe, len(cs))] {
		c := cs[i]
		body := NewSignBody(c.Spec, c.Witnesses[0], randomKey(), contract.Approve)
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		t0 := time.Now()
		err := api.Sign(pctx, c.Spec.ID, c.Witnesses[0].Token, body)
		cancel()
		if err != nil {
			row.Probe.Errors++
			row.Probe.ErrorKinds[errorKind(err)]++
			continue
		}
		row.Probe.Latencies = append(row.Probe.Latencies, time.Since(t0))
	}
	return row, nil
}

// settledRSS samples the RSS five times a second apart and returns the median.
func settledRSS(pid int) (int64, error) {
	var v []int64
	for range 5 {
		r, err := RSS(pid)
		if err != nil {
			return 0, err
		}
		v = append(v, r)
		time.Sleep(time.Second)
	}
	slices.Sort(v)
	return v[len(v)/2], nil
}

func cacheName(n int) string {
	if n == 0 {
		return "default (10000)"
	}
	return strconv.Itoa(n)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// WriteText prints the memory table.
func (r *MemoryReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\nWorker memory: %d open, idle ceremonies (%d witnesses each); RSS of `guildhall worker`\n%s\n\n",
		r.Config.Ceremonies, r.Config.Witnesses, r.Env)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "sticky cache\tRSS idle\tRSS with all open\tper ceremony\tcached\tgoroutines\theap\tstacks\tsign p50 ms after\tp99 ms\terrors\tload\t")
	for _, x := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f KB\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%d\t%s\t\n", cacheName(x.CacheSize), mib(x.RSSIdle), mib(x.RSSOpen),
			x.BytesPerCeremony/1024, x.Cached, x.Goroutines, mib(int64(x.HeapInuse)), mib(int64(x.StackInuse)),
			ms(x.Probe.Quantile(.5)), ms(x.Probe.Quantile(.99)), x.Probe.Errors, x.Load)
	}
	tw.Flush()
}

// Markdown renders the memory table for BENCHMARKS.md.
func (r *MemoryReport) Markdown(command string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Worker memory, %s\n\n`%s` — %d open, idle ceremonies with %d witnesses each; RSS of the `guildhall worker` process; then %d signatures on random ceremonies, one at a time.  \nMachine: %s.\n\n",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), command, r.Config.Ceremonies, r.Config.Witnesses, r.Config.Probe, r.Env)
	b.WriteString("| WORKFLOW_CACHE_SIZE | RSS idle | RSS with all open | per ceremony | goal ≤ 10 KB | cached | goroutines | Go heap | stacks | sign p50 ms after | sign p99 ms |\n|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %.1f KB | %s | %.0f | %.0f | %s | %s | %s | %s |\n", cacheName(x.CacheSize), mib(x.RSSIdle), mib(x.RSSOpen),
			x.BytesPerCeremony/1024, mark(x.BytesPerCeremony <= 10*1024), x.Cached, x.Goroutines, mib(int64(x.HeapInuse)),
			mib(int64(x.StackInuse)), ms(x.Probe.Quantile(.5)), ms(x.Probe.Quantile(.99)))
	}
	b.WriteString("\n")
	return b.String()
}
