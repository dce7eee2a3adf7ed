package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/internal/config"
	"github.com/guildhouse/guildhall/watcher"
	"github.com/guildhouse/guildhall/watcher/attest"
)

// watcherFlags are the watcher's settings; each defaults from the environment so the
// Deployment configures it with env only.
type watcherFlags struct {
	kubeconfig     string
	namespaces     string
	metricsAddr    string
	leaseNamespace string
	leaseName      string
	identity       string
	resync         time.Duration
	workers        int
	attestWorker   bool
}

// defaults fills the flags not given on the command line from the configuration.
func (f *watcherFlags) defaults(c config.Watcher) {
	for _, d := range []struct {
		flag *string
		v    string
	}{
		{&f.kubeconfig, c.Kubeconfig}, {&f.namespaces, strings.Join(c.Namespaces, ",")},
		{&f.metricsAddr, c.MetricsAddr}, {&f.leaseNamespace, c.LeaseNamespace}, {&f.identity, c.Identity},
	} {
		if *d.flag == "" {
			*d.flag = d.v
		}
	}
	if f.identity == "" {
		f.identity, _ = os.Hostname()
	}
}

func newWatcherCmd() *cobra.Command {
	f := watcherFlags{}
	cmd := &cobra.Command{
		Use:   "watcher",
		Short: "Turn substrate Ceremony resources into ceremony workflow messages; write attestations back",
		Long: `The watcher watches Ceremony resources (substrate.guildhouse.dev/v1alpha1) and sends
each change to its ceremony workflow exactly once: a new resource starts the workflow,
a new spec generation becomes spec-changed, a substrate phase becomes
substrate-decision, and a deletion becomes cancel. Replicas elect a leader on a Lease;
only the leader sends. It also runs the activities that write CeremonyAttestations
and Events back to the cluster (task queue ` + attest.TaskQueue + `).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWatcher(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG, else in-cluster)")
	fl.StringVar(&f.namespaces, "namespaces", "", "comma-separated namespaces to watch (default $WATCH_NAMESPACES, empty = all)")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "", "address of /metrics and /healthz (default $METRICS_ADDR, else :9090)")
	fl.StringVar(&f.leaseNamespace, "lease-namespace", "", "namespace of the leader Lease (default $POD_NAMESPACE, else guildhall)")
	fl.StringVar(&f.leaseName, "lease-name", watcher.DefaultLeaseName, "leader Lease name (empty disables leader election: one replica only)")
	fl.StringVar(&f.identity, "identity", "", "this replica's identity in the Lease (default $POD_NAME, else the host name)")
	fl.DurationVar(&f.resync, "resync", 10*time.Minute, "informer resync period (a safety net; resyncs send nothing new)")
	fl.IntVar(&f.workers, "workers", 2, "ceremonies synced in parallel")
	fl.BoolVar(&f.attestWorker, "attest-worker", true, "run the attestation write-back activities on task queue "+attest.TaskQueue)
	return cmd
}

func runWatcher(ctx context.Context, f watcherFlags) error {
	wc, log, err := configure(config.LoadWatcher)
	if err != nil {
		return err
	}
	log = log.With("component", "watcher")
	f.defaults(wc)
	cfg, err := kubeConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	tc, err := dialTemporal(ctx, wc.Temporal, "guildhall-watcher@"+f.identity, nil)
	if err != nil {
		return err
	}
	defer tc.Close()
	if err := requireSearchAttributes(ctx, tc, wc.Temporal.Namespace); err != nil {
		return err
	}
	writer := &attest.Writer{Dynamic: dyn, Events: kube.CoreV1(), Now: time.Now}
	if f.attestWorker {
		stop, err := startAttestWorker(tc, writer, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	w := watcher.New(watcher.Config{
		Namespaces: config.SplitList(f.namespaces), Resync: f.resync, Workers: f.workers,
		LeaseNamespace: f.leaseNamespace, LeaseName: f.leaseName, Identity: f.identity,
		MetricsAddr: f.metricsAddr, Logger: log,
	}, dyn, kube, &watcher.TemporalWorkflows{C: ceremonyclient.New(tc)}, writer)
	log.Info("watcher starting", "identity", f.identity, "namespaces", f.namespaces, "lease", f.leaseNamespace+"/"+f.leaseName, "metrics", f.metricsAddr)
	err = w.Run(ctx)
	if errors.Is(err, watcher.ErrLostLeadership) {
		log.Error("leader lease lost; exiting so a fresh replica rejoins the election")
	}
	return err
}

// startAttestWorker runs the write-back activities on their own task queue.
func startAttestWorker(tc client.Client, writer *attest.Writer, log *slog.Logger) (func(), error) {
	acts := &attest.Activities{W: writer}
	w := sdkworker.New(tc, attest.TaskQueue, sdkworker.Options{})
	acts.Register(w)
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start attestation worker on %s: %w", attest.TaskQueue, err)
	}
	log.Info("attestation activities running", "taskQueue", attest.TaskQueue)
	return w.Stop, nil
}

// kubeConfig loads the kubeconfig file when one is named, else the in-cluster
// service account.
func kubeConfig(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("kubernetes config (KUBECONFIG=%q, else in-cluster): %w", path, err)
	}
	cfg.UserAgent = "guildhall-watcher"
	return cfg, nil
}
