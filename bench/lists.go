package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/store"
)

// ListsConfig is the list-page benchmark: page latency with Small and with
// Large ceremonies in the Ops DB.
type ListsConfig struct {
	Small, Large int      // ceremony rows (100 and 10,000)
	Requests     int      // timed requests per page and size (sequential)
	Runs         int      // rounds (small, grow to large, measure, shrink back)
	Pages        []string // paths; default "/ceremonies", "/", "/ceremonies?awaiting=me"
	Progress     io.Writer
}

func (c *ListsConfig) defaults() {
	if c.Small <= 0 {
		c.Small = 100
	}
	if c.Large <= 0 {
		c.Large = 10_000
	}
	if c.Requests <= 0 {
		c.Requests = 300
	}
	if c.Runs <= 0 {
		c.Runs = 3
	}
	if len(c.Pages) == 0 {
		c.Pages = []string{"/ceremonies", "/", "/ceremonies?awaiting=me"}
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// ListsRun is one round: a Sample per page and size.
type ListsRun struct {
	Small, Large map[string]Sample
	Load         string
}

// ListsReport is the list-page benchmark result.
type ListsReport struct {
	Config  ListsConfig
	Started time.Time
	Env     Env
	Runs    []ListsRun
}

// P99Ratio is p99 at Large over p99 at Small for a page, min/median/max.
func (r *ListsReport) P99Ratio(page string) Spread {
	var v []float64
	for _, x := range r.Runs {
		v = append(v, ratio(float64(x.Large[page].Quantile(.99)), float64(x.Small[page].Quantile(.99))))
	}
	return spreadOf(v)
}

const listsViewer = "list-viewer@bench.test"

// RunLists measures the list pages as a logged-in witness with cfg.Small and
// then cfg.Large ceremonies in the Ops DB (rows written directly: the pages
// read only the Ops DB), cfg.Runs times.
func RunLists(ctx context.Context, t *Target, cfg ListsConfig) (*ListsReport, error) {
	cfg.defaults()
	rep := &ListsReport{Config: cfg, Started: time.Now(), Env: CurrentEnv()}
	if _, err := t.Store.DB.NewInsert().Model(&store.Witness{ID: listsViewer, DisplayName: "List Viewer", Email: listsViewer,
		Roles: []string{"security"}, Credentials: []store.Credential{}, CreatedAt: time.Now(), UpdatedAt: time.Now()}).
		On("CONFLICT (id) DO NOTHING").Exec(ctx); err != nil {
		return nil, err
	}
	cookie, err := SessionCookie(t.Secret, listsViewer, 12*time.Hour)
	if err != nil {
		return nil, err
	}
	tag := "l" + randomKey()[:6]
	if err := seedCeremonies(ctx, t.Store, tag, 0, cfg.Small); err != nil {
		return nil, err
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	measurePages := func(size int) (map[string]Sample, error) {
		if _, err := t.Store.DB.ExecContext(ctx, "ANALYZE ceremonies"); err != nil && t.Store.Dialect == store.Postgres {
			return nil, err
		}
		out := map[string]Sample{}
		for _, page := range cfg.Pages {
			s := Sample{Name: page, ErrorKinds: map[string]int{}}
			for i := range cfg.Requests + 20 {
				t0 := time.Now()
				code, err := getPage(ctx, hc, t.BaseURL+page, cookie)
				lat := time.Since(t0)
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("HTTP %d", code)
				}
				if i < 20 {
					continue // warm-up
				}
				if err != nil {
					s.Errors++
					s.ErrorKinds[err.Error()]++
					continue
				}
				s.Latencies = append(s.Latencies, lat)
				s.Wall += lat
			}
			if s.Errors > 0 {
				return nil, fmt.Errorf("%s with %d ceremonies: %d errors %v", page, size, s.Errors, s.ErrorKinds)
			}
			out[page] = s
			fmt.Fprintf(cfg.Progress, "  %6d ceremonies %-26s p50 %6s p95 %6s p99 %6s ms\n", size, page,
				ms(s.Quantile(.5)), ms(s.Quantile(.95)), ms(s.Quantile(.99)))
		}
		return out, nil
	}
	for run := 1; run <= cfg.Runs; run++ {
		var x ListsRun
		if x.Small, err = measurePages(cfg.Small); err != nil {
			return rep, err
		}
		if err := seedCeremonies(ctx, t.Store, tag, cfg.Small, cfg.Large); err != nil {
			return rep, err
		}
		if x.Large, err = measurePages(cfg.Large); err != nil {
			return rep, err
		}
		x.Load = loadAvg()
		rep.Runs = append(rep.Runs, x)
		if _, err := t.Store.DB.NewDelete().Model((*store.Ceremony)(nil)).
			Where("id LIKE ? AND id >= ?", "list/"+tag+"-%", fmt.Sprintf("list/%s-%06d", tag, cfg.Small)).Exec(ctx); err != nil {
			return rep, fmt.Errorf("shrink back to %d ceremonies: %w", cfg.Small, err)
		}
	}
	return rep, nil
}

func getPage(ctx context.Context, hc *http.Client, u, cookie string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Cookie", "guildhall_session="+cookie)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// seedCeremonies writes ceremony rows from..to-1 with a realistic mix: most
// closed, some collecting (a fifth of them overdue), the viewer a witness of a
// fifth and pending on the collecting ones among those.
func seedCeremonies(ctx context.Context, s *store.Store, tag string, from, to int) error {
	now := time.Now().UTC().Truncate(time.Second)
	r := rand.New(rand.NewPCG(uint64(from), uint64(to)))
	statuses := []struct {
		s contract.Status
		w int
	}{{contract.StatusCollecting, 25}, {contract.StatusQuorumReached, 5}, {contract.StatusSealed, 45},
		{contract.StatusRejected, 10}, {contract.StatusExpired, 10}, {contract.StatusCancelled, 5}}
	var (
		batch     []store.Ceremony
		artifacts []store.Artifact
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := s.DB.NewInsert().Model(&artifacts).On("CONFLICT (digest) DO NOTHING").Exec(ctx); err != nil {
			return err
		}
		_, err := s.DB.NewInsert().Model(&batch).Exec(ctx)
		batch, artifacts = batch[:0], artifacts[:0]
		return err
	}
	for i := from; i < to; i++ {
		id := fmt.Sprintf("list/%s-%06d", tag, i)
		pick, st := r.IntN(100), contract.StatusCollecting
		for _, x := range statuses {
			if pick < x.w {
				st = x.s
				break
			}
			pick -= x.w
		}
		witnesses := []string{"alice@bench.test", "bob@bench.test", "carol@bench.test", "dave@bench.test"}[:2+r.IntN(3)]
		if r.IntN(5) == 0 {
			witnesses = append(witnesses, listsViewer)
		}
		opened := now.Add(-time.Duration(r.IntN(365*24)) * time.Hour)
		deadline := opened.Add(time.Duration(24+r.IntN(14*24)) * time.Hour)
		if st == contract.StatusCollecting && r.IntN(5) != 0 {
			deadline = now.Add(time.Duration(1+r.IntN(14*24)) * time.Hour)
		}
		spec := contract.Spec{ID: id, Kind: contract.Kinds[r.IntN(len(contract.Kinds))], Title: "Release service " + id,
			Artifact:  contract.Artifact{Name: "service-" + tag, Digest: fmt.Sprintf("sha256:%064x", r.Uint64()), URI: "oci://registry.example/service:" + id},
			Initiator: "ivy@bench.test", Quorum: contract.Quorum{Threshold: 2}, Deadline: deadline, Source: "bench"}
		for _, w := range witnesses {
			spec.Witnesses = append(spec.Witnesses, contract.WitnessRef{ID: w, Role: "release"})
		}
		specJSON, _ := json.Marshal(spec)
		c := store.Ceremony{ID: id, WorkflowID: contract.WorkflowID(id), RunID: randomKey(), Kind: spec.Kind, Title: spec.Title,
			ArtifactDigest: spec.Artifact.Digest, Initiator: spec.Initiator, Status: string(st), Spec: string(specJSON),
			WitnessIDs: witnesses, PendingIDs: []string{}, Threshold: 2, Deadline: deadline, OpenedAt: opened, UpdatedAt: opened}
		if st == contract.StatusCollecting {
			c.PendingIDs = witnesses[1:]
			c.Approvals = 1
		} else {
			c.Approvals = 2
			closed := opened.Add(time.Duration(1+r.IntN(48)) * time.Hour)
			c.ClosedAt, c.UpdatedAt = &closed, closed
			c.Reason = strings.ReplaceAll(string(st), "_", " ")
		}
		batch = append(batch, c)
		artifacts = append(artifacts, store.Artifact{Digest: spec.Artifact.Digest, Name: spec.Artifact.Name, URI: spec.Artifact.URI,
			State: store.ArtifactProposed, CreatedAt: opened, UpdatedAt: opened})
		if len(batch) == 500 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// WriteText prints the list-page table.
func (r *ListsReport) WriteText(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "\nList pages: %d vs %d ceremonies in the Ops DB, %d sequential requests per page and size, %d runs\n%s\n\n",
		c.Small, c.Large, c.Requests, len(r.Runs), r.Env)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "run\tpage\tp50 @%d\tp99 @%d\tp50 @%d\tp99 @%d\tp99 ratio\tload\t\n", c.Small, c.Small, c.Large, c.Large)
	for i, x := range r.Runs {
		for _, p := range c.Pages {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t\n", i+1, p, ms(x.Small[p].Quantile(.5)), ms(x.Small[p].Quantile(.99)),
				ms(x.Large[p].Quantile(.5)), ms(x.Large[p].Quantile(.99)),
				ratio(float64(x.Large[p].Quantile(.99)), float64(x.Small[p].Quantile(.99))), x.Load)
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "\np99 ratio (large / small), min / median / max (goal <= 1.5):")
	for _, p := range c.Pages {
		fmt.Fprintf(w, "  %-26s %s\n", p, r.P99Ratio(p))
	}
}

// Markdown renders the list-page result as a BENCHMARKS.md section.
func (r *ListsReport) Markdown(command string) string {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "### List pages, %s\n\n`%s` — %d vs %d ceremonies, %d sequential requests per page and size, %d runs.  \nMachine: %s.\n\n",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), command, c.Small, c.Large, c.Requests, len(r.Runs), r.Env)
	fmt.Fprintf(&b, "| page | p50 ms @%d | p99 ms @%d | p50 ms @%d | p99 ms @%d | p99 ratio min | median | max | goal ≤ 1.5 |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
		c.Small, c.Small, c.Large, c.Large)
	for _, p := range c.Pages {
		var s50, s99, l50, l99 []float64
		for _, x := range r.Runs {
			s50 = append(s50, msf(x.Small[p].Quantile(.5)))
			s99 = append(s99, msf(x.Small[p].Quantile(.99)))
			l50 = append(l50, msf(x.Large[p].Quantile(.5)))
			l99 = append(l99, msf(x.Large[p].Quantile(.99)))
		}
		rt := r.P99Ratio(p)
		fmt.Fprintf(&b, "| `%s` | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f | %s |\n", p, spreadOf(s50).Median, spreadOf(s99).Median,
			spreadOf(l50).Median, spreadOf(l99).Median, rt.Min, rt.Median, rt.Max, mark(rt.Median <= 1.5))
	}
	b.WriteString("\n(latencies: median over the runs)\n\n")
	return b.String()
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
