package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/guildhouse/guildhall/bench"
	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/config"
	"github.com/guildhouse/guildhall/store"
)

// benchOptions holds the persistent flags the subcommands share.
var benchOpts *benchOptions

type benchOptions struct {
	selfContained bool
	url           string
	n, k, c, runs int
	warmup        bool
	markdown      string
	cpuProfile    string
	poolSize      int
	cacheSize     int
	keepDir       string
	dbParams      string
	noGzip        bool
	tconfig       map[string]string
	temporal      string
	source        string
}

func newSignCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "guildhall-bench",
		Short: "Measure signing through the HTTP API against bare Temporal on the same server (see BENCHMARKS.md)",
		Long: `bench opens N ceremonies with K witnesses each and signs every one through the
JSON API with C concurrent clients, timing each request until its answer (which
comes after the signature row is committed). In the same run it signs a minimal
workflow (one update handler, no activities) with the same number of updates,
the same concurrency and the same worker options: the baseline. It prints
throughput and p50/p95/p99 for both, the ratios (min/median/max over the runs),
and checks the Ops DB: every accepted signature exactly once, none missing.

--self-contained starts its own throwaway Postgres (initdb), a Temporal server
(--temporal: the dev server, or the server on PostgreSQL with SQL visibility,
its databases in the same throwaway Postgres), the worker and the web app, all
on loopback, and removes them after. Otherwise it drives a running stack with
the web's configuration: --url (GUILDHALL_HOST), TEMPORAL_ADDRESS, DATABASE_URL
and SESSION_SECRET (to mint API tokens for its witnesses); the baseline worker
then runs in this process with the SDK's default options.

Subcommands: memory (worker RSS per open ceremony), verify (custody chain).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd.Context(), o) },
	}
	f := cmd.PersistentFlags()
	f.BoolVar(&o.selfContained, "self-contained", false, "start a throwaway Postgres, a Temporal server (--temporal), the worker and the web app")
	f.StringVar(&o.url, "url", "", "web app base URL (without --self-contained; default GUILDHALL_HOST)")
	f.IntVar(&o.poolSize, "pool-size", 10, "Ops DB pool size of the worker and web app (self-contained)")
	f.IntVar(&o.cacheSize, "workflow-cache", 0, "sticky workflow cache size (worker.SetStickyWorkflowCacheSize); 0 = SDK default")
	f.StringVar(&o.dbParams, "db-params", "", "extra Ops DB URL parameters for every component (self-contained), e.g. default_query_exec_mode=simple_protocol")
	f.BoolVar(&o.noGzip, "no-gzip", false, "turn off gRPC compression on the stack's Temporal clients (self-contained, in-process components)")
	f.StringVar(&o.keepDir, "dir", "", "folder for logs and state (self-contained; default a temp folder, removed)")
	f.StringToStringVar(&o.tconfig, "temporal-config", nil, "Temporal server dynamic config KEY=VALUE (self-contained; repeatable), e.g. system.forceSearchAttributesCacheRefreshOnRead=true")
	f.StringVar(&o.temporal, "temporal", "", "Temporal server (self-contained): dev (temporal server start-dev) or postgres (go.temporal.io/server on PostgreSQL, SQL visibility); default $GUILDHALL_TEST_TEMPORAL, else dev")
	cf := cmd.Flags()
	cf.IntVarP(&o.n, "ceremonies", "n", 100, "ceremonies per run")
	cf.IntVarP(&o.k, "witnesses", "k", 5, "witnesses per ceremony (all sign)")
	cf.IntVarP(&o.c, "clients", "c", 20, "concurrent clients")
	cf.IntVar(&o.runs, "runs", 3, "measured runs")
	cf.BoolVar(&o.warmup, "warmup", true, "one small unrecorded round first")
	cf.StringVar(&o.markdown, "markdown", "", "append the results as a section to this file (e.g. BENCHMARKS.md)")
	cf.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process during the Guildhall phases")
	cf.StringVar(&o.source, "source", "bench", `the ceremonies' source; "cluster" keeps each one's CeremonyAttestation current, as for a Ceremony resource (self-contained: answered by a stub on task queue guildhall-cluster; else by the running watcher)`)
	benchOpts = &o
	return cmd
}

// benchTarget returns the stack to drive and a function that releases it.
func benchTarget(ctx context.Context, o *benchOptions, baselineWorker bool) (*bench.Target, *bench.Stack, func(), error) {
	if o.cacheSize > 0 {
		sdkworker.SetStickyWorkflowCacheSize(o.cacheSize)
	}
	if o.selfContained {
		fmt.Fprintln(os.Stderr, "starting a throwaway Postgres, a Temporal server, the worker and the web app ...")
		st, err := bench.StartStack(ctx, bench.StackOptions{Dir: o.keepDir, PoolSize: o.poolSize,
			SetDefaultLogger: true, DBParams: o.dbParams, NoGzip: o.noGzip, DynamicConfig: o.tconfig, Temporal: o.temporal})
		if err != nil {
			return nil, nil, nil, err
		}
		fmt.Fprintf(os.Stderr, "stack up: web %s, temporal %s, postgres port %d, logs %s\n", st.BaseURL, st.Server.Kind()+" "+st.Server.HostPort(), st.PG.Port, st.LogFile)
		return &st.Target, st, st.Close, nil
	}
	cfg, err := config.LoadWeb()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w (without --self-contained the bench uses the web's configuration; SESSION_SECRET mints API tokens for its witnesses)", err)
	}
	if o.url == "" {
		o.url = cfg.Host
	}
	s, err := store.Open(ctx, store.Options{URL: cfg.URL, PoolSize: cfg.PoolSize})
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := ceremonyclient.Dial(ctx, ceremonyclient.Options{Address: cfg.Temporal.Address, Namespace: cfg.Temporal.Namespace, Identity: "guildhall-bench"})
	if err != nil {
		s.Close()
		return nil, nil, nil, err
	}
	secret := cfg.SessionSecret
	closers := []func(){func() { s.Close() }, c.Close}
	if baselineWorker {
		w := bench.NewBaselineWorker(c, sdkworker.Options{})
		if err := w.Start(); err != nil {
			return nil, nil, nil, err
		}
		closers = append(closers, w.Stop)
	}
	return &bench.Target{BaseURL: strings.TrimRight(o.url, "/"), Temporal: c, Store: s, Secret: []byte(secret)}, nil, func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}, nil
}

func runBench(ctx context.Context, o benchOptions) error {
	t, _, done, err := benchTarget(ctx, &o, true)
	if err != nil {
		return err
	}
	defer done()
	cfg := bench.Config{Ceremonies: o.n, Witnesses: o.k, Clients: o.c, Runs: o.runs, Warmup: o.warmup, Progress: os.Stderr, Source: o.source}
	var stub *bench.AttestationStub
	if o.source == contract.SourceCluster && o.selfContained {
		if stub, err = bench.StartAttestationStub(t.Temporal); err != nil {
			return fmt.Errorf("attestation stub: %w", err)
		}
		defer stub.Stop()
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		// The first measured Guildhall phase only: one profile per file.
		cfg.OnPhase = func(run int, start bool) {
			switch {
			case run != 1:
			case start:
				_ = pprof.StartCPUProfile(f)
			default:
				pprof.StopCPUProfile()
			}
		}
	}
	t0 := time.Now()
	rep, err := bench.RunSign(ctx, t, cfg)
	if err != nil {
		return err
	}
	rep.WriteText(os.Stdout)
	if stub != nil {
		fmt.Printf("\nCeremonyAttestation writes (stub): %d\n", stub.Writes())
	}
	fmt.Printf("\n(%s)\n", time.Since(t0).Round(time.Second))
	if o.markdown != "" {
		if err := bench.AppendMarkdown(o.markdown, rep.Markdown(commandLine())); err != nil {
			return err
		}
		fmt.Println("appended to", o.markdown)
	}
	for _, r := range rep.Runs {
		if !r.Check.OK() {
			return errCheckFailed
		}
	}
	if rep.Chain != "ok" {
		return errors.New("custody chain: " + rep.Chain)
	}
	return nil
}

func newMemoryCmd() *cobra.Command {
	var (
		cfg       bench.MemoryConfig
		markdown  string
		guildhall string
	)
	cmd := &cobra.Command{
		Use:   "memory",
		Short: "RSS of `guildhall worker` with 10,000 open, idle ceremonies, per sticky-cache size",
		Long: `memory always runs self-contained: for each --cache size it starts a throwaway
Postgres and dev server, runs ` + "`guildhall worker`" + ` (--guildhall) as a child process with
WORKFLOW_CACHE_SIZE set, measures its RSS, opens --ceremonies ceremonies, waits
until everything is idle, and measures again. Then it times --probe signatures on
random ceremonies (an evicted ceremony is replayed on its next message).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := benchOpts
			cfg.Binary, cfg.Progress = guildhall, os.Stderr
			cfg.Stack = bench.StackOptions{PoolSize: o.poolSize, SetDefaultLogger: true, DBParams: o.dbParams}
			rep, err := bench.RunMemory(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			rep.WriteText(os.Stdout)
			if markdown != "" {
				if err := bench.AppendMarkdown(markdown, rep.Markdown(commandLine())); err != nil {
					return err
				}
				fmt.Println("appended to", markdown)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Ceremonies, "ceremonies", 10_000, "open ceremonies")
	f.IntVar(&cfg.Witnesses, "witnesses", 3, "witnesses per ceremony")
	f.IntSliceVar(&cfg.CacheSizes, "cache", []int{0, 2000, 500}, "WORKFLOW_CACHE_SIZE values to measure (0 = SDK default, 10,000)")
	f.IntVar(&cfg.Probe, "probe", 100, "signatures to time afterwards")
	f.DurationVar(&cfg.Settle, "settle", 150*time.Second, "idle time before measuring (Go forces a collection every 2 minutes)")
	f.StringVar(&markdown, "markdown", "", "append the results to this file (e.g. BENCHMARKS.md)")
	f.StringVar(&guildhall, "guildhall", "bin/guildhall", "the guildhall binary whose worker is measured (make build)")
	return cmd
}
