package integration_test

import (
	"fmt"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/watcher"
)

// BenchmarkLeaderFailover measures what 61-watcher.yaml promises: the leader
// watcher (a child process, with the production lease timing) is SIGKILLed — no
// lease release, as when its node dies — and a warm standby (informers synced,
// already competing for the lease) takes over. One op is one failover, timed
// from the kill to the standby leading.
//
//	go test ./watcher/integration -run '^$' -bench LeaderFailover -benchtime 5x
//
// Each op waits out a whole lease, so 5 ops take about two minutes.
func BenchmarkLeaderFailover(b *testing.B) {
	ns := namespace(b)
	var took []time.Duration
	for i := range b.N {
		b.StopTimer()
		leader := fmt.Sprintf("leader-%d", i)
		child := startChild(b, leader, ns, childLeaseEnv+"=production")
		testenv.Eventually(b, time.Minute, "the child leads", func() bool { return leaseHolder(b) == leader })
		standby := startWatcher(b, watcher.Config{Namespaces: []string{ns}, LeaseNamespace: saNamespace,
			LeaseName: watcher.DefaultLeaseName, Identity: fmt.Sprintf("standby-%d", i)})
		time.Sleep(3 * time.Second) // informers synced, a few tries at the lease
		if metric(b, standby.W, "guildhall_watcher_leader") != 0 {
			b.Fatal("the standby leads before the leader died")
		}
		b.StartTimer()
		killed := time.Now()
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		for metric(b, standby.W, "guildhall_watcher_leader") != 1 {
			if time.Since(killed) > time.Minute {
				b.Fatal("no failover within a minute")
			}
			time.Sleep(10 * time.Millisecond)
		}
		b.StopTimer()
		took = append(took, time.Since(killed))
		_ = child.Wait()
		standby.stop(b) // releases the lease for the next op
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	b.ReportMetric(took[0].Seconds(), "min-s")
	b.ReportMetric(took[len(took)/2].Seconds(), "median-s")
	b.ReportMetric(took[len(took)-1].Seconds(), "max-s")
	bound := watcher.FailoverBound(watcher.Config{})
	b.Logf("failovers: %v (the promise: at most %s)", took, bound)
}
