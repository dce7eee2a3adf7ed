// Package integration_test runs the watcher against a real kube-apiserver + etcd
// (internal/kubetest, CRDs from deploy/crds, RBAC on) and a real Temporal server
// (testenv.StartTemporal: the dev server, or the PostgreSQL-backed one), with the
// watcher's clients impersonating its ServiceAccount from
// deploy/k8s/60-watcher-rbac.yaml. A small recording workflow stands in for the
// Ceremony workflow under its contract name, so these tests depend only on the
// contract. Nothing is skipped: missing binaries fail with the command that builds
// them.
package integration_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/kubetest"
	"github.com/guildhouse/guildhall/internal/testenv"
)

var (
	kube  *kubetest.Server
	dev   testenv.Temporal // GUILDHALL_TEST_TEMPORAL selects which
	tc    client.Client
	saCfg *rest.Config // the watcher's ServiceAccount, by impersonation
	stats = &measurements{}
)

const (
	saNamespace = "guildhall"
	saName      = "guildhall-watcher"
)

func TestMain(m *testing.M) {
	// client-go logs through klog; the tests assert on behaviour, not on log lines.
	klog.SetLogger(logr.Discard())
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	began := time.Now()
	var err error
	if kube, saCfg, err = kubetest.StartAs(ctx, "60-watcher-rbac.yaml", saNamespace, saName); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer kube.Stop()
	apiReady := time.Since(began)
	if dev, err = testenv.StartTemporal(ctx, testenv.TemporalOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start Temporal server:", err)
		return 1
	}
	defer dev.Close()
	if tc, err = dev.Client(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: dial Temporal:", err)
		return 1
	}
	defer tc.Close()
	w := worker.New(tc, contract.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(recordingCeremony, workflow.RegisterOptions{Name: contract.WorkflowType})
	w.RegisterWorkflowWithOptions(attestProbe, workflow.RegisterOptions{Name: attestProbeName})
	if err := w.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start test worker:", err)
		return 1
	}
	defer w.Stop()
	fmt.Printf("environment: kube-apiserver+etcd+CRDs+RBAC ready in %s, Temporal %s server in %s\n",
		apiReady.Round(time.Millisecond), dev.Kind(), (time.Since(began) - apiReady).Round(time.Millisecond))
	code := m.Run()
	stats.report()
	return code
}

// measurements collects event-to-signal latencies and duplicate counts across tests.
type measurements struct {
	mu         sync.Mutex
	latency    map[string][]time.Duration // by message kind
	duplicates int
	checked    int // messages checked for duplicates
}

func (m *measurements) addLatency(kind string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.latency == nil {
		m.latency = map[string][]time.Duration{}
	}
	m.latency[kind] = append(m.latency[kind], d)
}

func (m *measurements) addDuplicates(dups, total int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.duplicates += dups
	m.checked += total
}

func (m *measurements) report() {
	m.mu.Lock()
	defer m.mu.Unlock()
	var all []time.Duration
	kinds := make([]string, 0, len(m.latency))
	for k := range m.latency {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		if !strings.HasPrefix(k, "failover:") {
			all = append(all, m.latency[k]...)
		}
		fmt.Printf("event-to-signal latency %-24s n=%-3d %s\n", k, len(m.latency[k]), summary(m.latency[k]))
	}
	fmt.Printf("event-to-signal latency %-24s n=%-3d %s\n", "all steady-state", len(all), summary(all))
	fmt.Printf("duplicate messages: %d of %d delivered signals checked (resync, restart, handover)\n", m.duplicates, m.checked)
}

func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return fmt.Sprintf("p50=%s p90=%s max=%s", s[len(s)/2].Round(time.Millisecond),
		s[len(s)*9/10].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}
