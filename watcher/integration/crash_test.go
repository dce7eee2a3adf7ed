package integration_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/internal/kubetest"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/watcher"
	"github.com/guildhouse/guildhall/watcher/attest"
	"github.com/guildhouse/guildhall/watcher/crd"
)

// A watcher in a child process (this test binary, re-executed) can be SIGKILLed:
// no lease release, no clean shutdown — what a node failure does to a pod.
const childEnv = "GUILDHALL_WATCHER_CHILD"

// Lease timing shared by the child and the in-process replica.
const (
	crashLease    = 3 * time.Second
	crashRenew    = 2 * time.Second
	crashRetry    = 250 * time.Millisecond
	crashResync   = time.Second
	childIDEnv    = "GUILDHALL_WATCHER_CHILD_ID"
	childNSEnv    = "GUILDHALL_WATCHER_CHILD_NS"
	childAddrEnv  = "GUILDHALL_WATCHER_CHILD_TEMPORAL"
	childLeaseEnv = "GUILDHALL_WATCHER_CHILD_LEASE" // "production": the watcher's default lease timing
)

func crashConfig(id, ns string) watcher.Config {
	return watcher.Config{Namespaces: []string{ns}, LeaseNamespace: saNamespace, LeaseName: watcher.DefaultLeaseName, Identity: id,
		Resync: crashResync, LeaseDuration: crashLease, RenewDeadline: crashRenew, RetryPeriod: crashRetry}
}

// runChild runs one watcher until killed.
func runChild() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("child", os.Getenv(childIDEnv))
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		log.Error("kubeconfig", "err", err)
		return 2
	}
	ctx := context.Background()
	c, err := ceremonyclient.Dial(ctx, ceremonyclient.Options{Address: os.Getenv(childAddrEnv), Namespace: "default"})
	if err != nil {
		log.Error("temporal", "err", err)
		return 2
	}
	wcfg := crashConfig(os.Getenv(childIDEnv), os.Getenv(childNSEnv))
	if os.Getenv(childLeaseEnv) == "production" {
		wcfg.LeaseDuration, wcfg.RenewDeadline, wcfg.RetryPeriod, wcfg.Resync = 0, 0, 0, 0
	}
	wcfg.Logger = log
	// The watcher's clients, and a writer over them, as `guildhall watcher` builds them.
	dyn, kube := dynamic.NewForConfigOrDie(cfg), kubernetes.NewForConfigOrDie(cfg)
	writer := &attest.Writer{Dynamic: dyn, Events: kube.CoreV1(), Now: time.Now}
	w := watcher.New(wcfg, dyn, kube, &watcher.TemporalWorkflows{C: ceremonyclient.New(c)}, writer)
	if err := w.Run(ctx); err != nil {
		log.Error("watcher stopped", "err", err)
		return 1
	}
	return 0
}

func startChild(t testing.TB, id, ns string, env ...string) *exec.Cmd {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubetest.WriteKubeconfig(saCfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"=1", childIDEnv+"="+id, childNSEnv+"="+ns,
		childAddrEnv+"="+dev.HostPort(), "KUBECONFIG="+kubeconfig), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func leaseHolder(t testing.TB) string {
	t.Helper()
	l, err := adminKube().CoordinationV1().Leases(saNamespace).Get(context.Background(), watcher.DefaultLeaseName, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// TestLeaderCrash: the leader is SIGKILLed (it cannot release the lease); changes
// made while no one leads are delivered once the other replica takes over after
// the lease expires — none lost, none twice.
func TestLeaderCrash(t *testing.T) {
	ns := namespace(t)
	child := startChild(t, "crash-a", ns)
	testenv.Eventually(t, 30*time.Second, "the child leads", func() bool { return leaseHolder(t) == "crash-a" })
	b := startWatcher(t, crashConfig("crash-b", ns))

	c1, at := createCeremony(t, ns, "c1", validSpec())
	waitSignal(t, crd.CeremonyID(ns, "c1"), specKey(c1), watcher.KindStart, at)
	if got := sentTotal(t, b.W); got != 0 {
		t.Fatalf("follower sent %v messages while the child led", got)
	}

	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	c2, at2 := createCeremony(t, ns, "c2", validSpec())
	c1, at1 := editSpec(t, ns, "c1", func(s map[string]any) { s["description"] = "edited while no one leads" })
	atPhase := setPhase(t, ns, "c1", "Collecting")
	waitSignal(t, crd.CeremonyID(ns, "c2"), specKey(c2), "failover:start", at2)
	waitSignal(t, crd.CeremonyID(ns, "c1"), specKey(c1), "failover:spec-changed", at1)
	waitSignal(t, crd.CeremonyID(ns, "c1"), watcher.DecisionKey(string(c1.GetUID()), "Collecting", 2), "failover:decision", atPhase)
	takeover := time.Since(killed)
	if h := leaseHolder(t); h != "crash-b" {
		t.Fatalf("lease holder %q after the crash, want crash-b", h)
	}
	t.Logf("leader SIGKILLed; changes made meanwhile delivered %s later (lease duration %s)", takeover.Round(time.Millisecond), crashLease)
	time.Sleep(crashResync + 500*time.Millisecond) // one resync round on the new leader
	u1, u2 := string(c1.GetUID()), string(c2.GetUID())
	checkExactly(t, crd.CeremonyID(ns, "c1"), watcher.SpecKey(u1, 1), watcher.SpecKey(u1, 2), watcher.DecisionKey(u1, "Collecting", 2))
	checkExactly(t, crd.CeremonyID(ns, "c2"), watcher.SpecKey(u2, 1))
}
