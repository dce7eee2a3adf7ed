package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

func TestQuantileNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.95: 95 * time.Millisecond,
		0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond} {
		if got := quantile(ds, q); got != want {
			t.Errorf("q%.2f = %s, want %s", q, got, want)
		}
	}
	if s := spreadOf([]float64{3, 1, 2}); s != (Spread{1, 2, 3}) {
		t.Errorf("spread %+v", s)
	}
}

// TestSignBenchSmoke runs the whole signing benchmark in miniature on a
// self-contained stack, so the harness keeps working as the code under it
// changes: both phases succeed, the Ops DB check passes, the chain verifies.
func TestSignBenchSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := StartStack(ctx, StackOptions{Dir: t.TempDir(), SetDefaultLogger: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep, err := RunSign(ctx, &s.Target, Config{Ceremonies: 4, Witnesses: 3, Clients: 4, Runs: 2})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep.WriteText(&out)
	t.Log(out.String())
	for _, r := range rep.Runs {
		if r.Baseline.Errors != 0 || r.Guildhall.Errors != 0 || r.Baseline.OK() != 12 || r.Guildhall.OK() != 12 {
			t.Errorf("run %d: baseline %d ok %d errors, guildhall %d ok %d errors", r.Run,
				r.Baseline.OK(), r.Baseline.Errors, r.Guildhall.OK(), r.Guildhall.Errors)
		}
		if !r.Check.OK() || r.Check.Accepted != 12 || r.Check.QuorumReached != 4 || r.Check.Sampled == 0 {
			t.Errorf("run %d check: %+v", r.Run, r.Check)
		}
		if r.ThroughputRatio() <= 0 || r.P99Ratio() <= 0 {
			t.Errorf("run %d ratios %.2f %.2f", r.Run, r.ThroughputRatio(), r.P99Ratio())
		}
	}
	if rep.Chain != "ok" {
		t.Errorf("chain: %s", rep.Chain)
	}
	if md := rep.Markdown("guildhall bench"); !strings.Contains(md, "| throughput |") {
		t.Errorf("markdown:\n%s", md)
	}
}

// TestRunChain times verification of a small chain and prints the table.
func TestRunChain(t *testing.T) {
	s := storetest.SQLite(t)
	ctx := context.Background()
	for i := range 50 {
		if _, err := s.AppendCustody(ctx, store.NewEvent{Type: custody.TypeAttention, CeremonyID: "demo/x", IdempotencyKey: fmt.Sprint("k", i), Data: map[string]any{"i": i}}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := RunChain(ctx, s, 2)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	b.WriteText(&out)
	if b.Links != 51 || len(b.Ratios) != 2 || !strings.Contains(out.String(), "ratio") {
		t.Fatalf("chain bench: %+v\n%s", b, out.String())
	}
}
