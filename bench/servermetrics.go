package bench

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The Temporal server's request counters the report breaks down per
// signature: API calls each service served, and persistence operations.
var serverCounters = map[string]string{"service_requests": "rpc", "persistence_requests": "persistence",
	"visibility_persistence_requests": "visibility"}

// serverFlush is how long the server takes to publish what it counted (its
// metrics scope reports every second): the phase's counters are read that long
// after it starts and ends, so a phase is not charged what came just before.
const serverFlush = 1500 * time.Millisecond

// ScrapeBy reads metrics from a Prometheus text endpoint (the named ones, or
// all when no name is given) summed by the values of some labels:
// "<name>/<value 1>/<value 2>…" → sum over the other labels.
func ScrapeBy(url string, labels []string, names ...string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, set, value := line, "", ""
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				continue
			}
			name, set, value = line[:i], line[i+1:j], line[j+1:]
		} else if f := strings.Fields(line); len(f) >= 2 {
			name, value = f[0], f[1]
		}
		if len(names) > 0 && !slices.Contains(names, name) {
			continue
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		have := map[string]string{}
		for _, kv := range strings.Split(set, ",") {
			k, val, _ := strings.Cut(kv, "=")
			have[k] = strings.Trim(val, `"`)
		}
		key := name
		for _, l := range labels {
			key += "/" + have[l]
		}
		out[key] += v
	}
	return out, nil
}

// serverSnapshot reads the server's counters by operation and service ("rpc
// GetSystemInfo (frontend)", "persistence GetNamespace (history)"), nil when the
// target has no metrics endpoint.
func serverSnapshot(t *Target) map[string]float64 {
	if t.ServerMetrics == "" {
		return nil
	}
	time.Sleep(serverFlush)
	names := make([]string, 0, len(serverCounters))
	for n := range serverCounters {
		names = append(names, n)
	}
	m, err := ScrapeBy(t.ServerMetrics, []string{"operation", "service_name"}, names...)
	if err != nil {
		return nil
	}
	out := map[string]float64{}
	for k, v := range m {
		f := strings.Split(k, "/")
		out[fmt.Sprintf("%s %s (%s)", serverCounters[f[0]], f[1], f[2])] += v
	}
	return out
}

// perSignature is the phase's count of a server operation per successful
// signature.
func (p Phase) perSignature(op string) float64 {
	if p.OK() == 0 {
		return 0
	}
	return p.Server[op] / float64(p.OK())
}

// serverOps are the operations worth a row: at least 0.05 per signature in
// some phase, Guildhall's busiest first.
func (r *Report) serverOps() []string {
	seen := map[string]float64{}
	for _, x := range r.Runs {
		for _, p := range []Phase{x.Guildhall, x.Baseline} {
			for op := range p.Server {
				seen[op] = max(seen[op], p.perSignature(op))
			}
		}
	}
	var ops []string
	for op, v := range seen {
		if v >= 0.05 {
			ops = append(ops, op)
		}
	}
	g := func(op string) float64 {
		s := 0.0
		for _, x := range r.Runs {
			s += x.Guildhall.perSignature(op)
		}
		return s
	}
	slices.SortFunc(ops, func(a, b string) int {
		if d := g(b) - g(a); d != 0 {
			if d > 0 {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	return ops
}

// serverTable writes "operation | Guildhall per signature | baseline" with
// each run's value, or nothing when no server counters were read.
func (r *Report) serverTable(w io.Writer, markdown bool) {
	ops := r.serverOps()
	if len(ops) == 0 {
		return
	}
	runs := func(op string, guildhall bool) string {
		vs := make([]string, len(r.Runs))
		for i, x := range r.Runs {
			p := x.Baseline
			if guildhall {
				p = x.Guildhall
			}
			vs[i] = fmt.Sprintf("%.2f", p.perSignature(op))
		}
		return strings.Join(vs, " / ")
	}
	if markdown {
		fmt.Fprintf(w, "Temporal server requests per signature (its own counters, all services; runs 1 / 2 / …):\n\n")
		fmt.Fprintf(w, "| server request | Guildhall | baseline |\n|---|---:|---:|\n")
		for _, op := range ops {
			fmt.Fprintf(w, "| %s | %s | %s |\n", op, runs(op, true), runs(op, false))
		}
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintln(w, "\nTemporal server requests per signature (its own counters, all services), per run:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  request\tGuildhall\tbaseline")
	for _, op := range ops {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", op, runs(op, true), runs(op, false))
	}
	tw.Flush()
}
