package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/store"
)

// Env describes the machine and build a measurement ran on.
type Env struct {
	CPU       string
	Cores     int
	GoVersion string
	Revision  string
	LoadStart string
}

// CurrentEnv reads the machine description.
func CurrentEnv() Env {
	e := Env{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), LoadStart: loadAvg(), CPU: "?", Revision: "?"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				e.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 7 {
				e.Revision = s.Value[:7]
			}
			if s.Key == "vcs.modified" && s.Value == "true" {
				e.Revision += "+dirty"
			}
		}
	}
	if e.Revision == "?" {
		// Built with -buildvcs=false: ask git about the folder it runs in.
		if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
			e.Revision = strings.TrimSpace(string(out)) + " (working tree)"
		}
	}
	return e
}

func (e Env) String() string {
	return fmt.Sprintf("%s, %d cores, %s, build %s, load %s at start", e.CPU, e.Cores, e.GoVersion, e.Revision, e.LoadStart)
}

// VerifyChain walks the whole custody chain in the Ops DB with the custody
// package's verifier (what `guildhall verify` does).
func VerifyChain(ctx context.Context, s *store.Store) error {
	v := custody.NewVerifier()
	err := s.WalkChain(ctx, 5000, func(e store.CustodyEvent) error { return v.Next(e.Link()) })
	if err != nil {
		return err
	}
	if v.Count == 0 {
		return fmt.Errorf("the custody chain is empty")
	}
	return nil
}

// WriteText prints the per-run table, the ratios and the checks.
func (r *Report) WriteText(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "\nSigning benchmark: %d ceremonies x %d witnesses = %d signatures per phase, %d clients, %d runs\n",
		c.Ceremonies, c.Witnesses, c.Ceremonies*c.Witnesses, c.Clients, len(r.Runs))
	fmt.Fprintf(w, "%s\n", r.Env)
	if r.Server != "" {
		fmt.Fprintf(w, "Temporal: %s\n", r.Server)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tphase\tok\terrors\tsig/s\tp50 ms\tp95 ms\tp99 ms\tload\tCPU s/1000 sig (bench / temporal / postgres)\t")
	for _, x := range r.Runs {
		for _, p := range x.phasesInOrder() {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", x.Run, p.Name, p.OK(), p.Errors, p.Throughput(),
				ms(p.Quantile(.5)), ms(p.Quantile(.95)), ms(p.Quantile(.99)), p.Load, p.cpuPer1000())
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\nratios (Guildhall / baseline), min / median / max over %d runs:\n", len(r.Runs))
	fmt.Fprintf(w, "  throughput  %s   (goal >= 0.60)\n", r.ThroughputRatio())
	fmt.Fprintf(w, "  p99 latency %s   (goal <= 2.00)\n", r.P99Ratio())
	fmt.Fprintln(w, "\nchecks (Ops DB after each run):")
	for _, x := range r.Runs {
		k := x.Check
		fmt.Fprintf(w, "  run %d: accepted %d, rows %d, missing %d, duplicates %d, rows for refused requests %d, "+
			"row visible at answer %d/%d, quorum reached %d/%d  %s\n", x.Run, k.Accepted, k.Rows, k.Missing, k.Duplicates,
			k.Unexpected, k.Sampled-k.NotAtAnswer, k.Sampled, k.QuorumReached, c.Ceremonies, okText(k.OK()))
		for _, p := range x.phasesInOrder() {
			for _, e := range sortedKinds(p.ErrorKinds) {
				fmt.Fprintf(w, "    %s error: %s x%d\n", p.Name, e, p.ErrorKinds[e])
			}
		}
	}
	fmt.Fprintf(w, "  custody chain: %s\n", r.Chain)
	r.serverTable(w, false)
}

func okText(ok bool) string {
	if ok {
		return "OK"
	}
	return "FAILED"
}

func sortedKinds(m map[string]int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (x RunResult) phasesInOrder() []Phase {
	if x.BaselineFirst {
		return []Phase{x.Baseline, x.Guildhall}
	}
	return []Phase{x.Guildhall, x.Baseline}
}

// cpuPer1000 is CPU seconds per 1000 successful operations per process group.
func (p Phase) cpuPer1000() string {
	if p.OK() == 0 {
		return "-"
	}
	f := func(name string) string {
		d, ok := p.CPU[name]
		if !ok {
			return "?"
		}
		return fmt.Sprintf("%.1f", d.Seconds()*1000/float64(p.OK()))
	}
	return f("bench process") + " / " + f(temporalProc) + " / " + f("postgres")
}

// Markdown renders the report as a BENCHMARKS.md section.
func (r *Report) Markdown(command string) string {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "### Signing, %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "`%s` — %d ceremonies × %d witnesses = %d signatures per phase, %d concurrent clients, %d runs.  \n",
		command, c.Ceremonies, c.Witnesses, c.Ceremonies*c.Witnesses, c.Clients, len(r.Runs))
	fmt.Fprintf(&b, "Machine: %s.", r.Env)
	if r.Server != "" {
		fmt.Fprintf(&b, "  \nTemporal: %s.", r.Server)
	}
	b.WriteString("\n\n")
	b.WriteString("| run | phase | ok | errors | sig/s | p50 ms | p95 ms | p99 ms | load | CPU s per 1000 sig (bench process / temporal / postgres) |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, x := range r.Runs {
		for _, p := range x.phasesInOrder() {
			fmt.Fprintf(&b, "| %d | %s | %d | %d | %.1f | %s | %s | %s | %s | %s |\n", x.Run, p.Name, p.OK(), p.Errors,
				p.Throughput(), ms(p.Quantile(.5)), ms(p.Quantile(.95)), ms(p.Quantile(.99)), p.Load, p.cpuPer1000())
		}
	}
	tr, pr := r.ThroughputRatio(), r.P99Ratio()
	fmt.Fprintf(&b, "\n| ratio (Guildhall / baseline) | min | median | max | goal |\n|---|---:|---:|---:|---|\n")
	fmt.Fprintf(&b, "| throughput | %.2f | %.2f | %.2f | ≥ 0.6 %s |\n", tr.Min, tr.Median, tr.Max, mark(tr.Median >= 0.6))
	fmt.Fprintf(&b, "| p99 latency | %.2f | %.2f | %.2f | ≤ 2.0 %s |\n\n", pr.Min, pr.Median, pr.Max, mark(pr.Median <= 2.0))
	all := true
	for _, x := range r.Runs {
		k := x.Check
		all = all && k.OK()
		fmt.Fprintf(&b, "Run %d check: %d accepted, %d rows, %d missing, %d duplicates, %d/%d sampled rows visible at the answer, %d/%d ceremonies at quorum.  \n",
			x.Run, k.Accepted, k.Rows, k.Missing, k.Duplicates, k.Sampled-k.NotAtAnswer, k.Sampled, k.QuorumReached, c.Ceremonies)
	}
	fmt.Fprintf(&b, "Custody chain: %s. All checks: %s.\n\n", r.Chain, okText(all))
	r.serverTable(&b, true)
	return b.String()
}

func mark(ok bool) string {
	if ok {
		return "(met)"
	}
	return "(missed)"
}

// AppendMarkdown appends a section to a file (BENCHMARKS.md).
func AppendMarkdown(path, section string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString("\n" + section)
	return err
}

var _ = time.Second
