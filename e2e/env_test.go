package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/internal/kubetest"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
	"github.com/guildhouse/guildhall/watcher"
	"github.com/guildhouse/guildhall/watcher/attest"
	"github.com/guildhouse/guildhall/watcher/crd"
	"github.com/guildhouse/guildhall/worker"
)

// cluster is the whole system as deployed, on this machine: a real kube-apiserver
// with the CRDs and the watcher's RBAC, a Temporal server, the worker on a
// Postgres Ops DB, and the watcher process (the watcher and the attestation
// activities, under the watcher's ServiceAccount only). Every log line of the
// worker and the watcher process goes through logs.
type cluster struct {
	kube  *kubetest.Server
	sa    *rest.Config
	tc    client.Client
	cc    *ceremonyclient.Client
	store *store.Store
	admin dynamic.Interface
	logs  *logRecorder

	proc *watcherProcess
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	klog.SetLogger(logr.Discard())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := &cluster{logs: &logRecorder{}}
	var err error
	if c.kube, c.sa, err = kubetest.StartAs(ctx, "60-watcher-rbac.yaml", "guildhall", "guildhall-watcher"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.kube.Stop)
	// The dev server, or the PostgreSQL-backed one (GUILDHALL_TEST_TEMPORAL).
	dev, err := testenv.StartTemporal(ctx, testenv.TemporalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	t.Logf("Temporal server: %s", dev.Kind())
	if c.tc, err = client.DialContext(ctx, client.Options{HostPort: dev.HostPort(), Logger: tlog.NewStructuredLogger(c.logs.logger("temporal"))}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.tc.Close)
	c.cc = ceremonyclient.New(c.tc)
	c.store = storetest.Postgres(t)
	w := worker.New(c.tc, &activities.Activities{Store: c.store}, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	c.admin = dynamic.NewForConfigOrDie(c.kube.Config)
	c.startWatcher(t)
	t.Cleanup(func() { c.stopWatcher(t) })
	return c
}

// watcherProcess is what `guildhall watcher` runs: the watcher and the
// attestation activities.
type watcherProcess struct {
	w      *watcher.Watcher
	aw     sdkworker.Worker
	cancel context.CancelFunc
	done   chan error
}

// startWatcher starts the watcher process, as a pod (re)start does: nothing
// carried over from an earlier one.
func (c *cluster) startWatcher(t *testing.T) {
	t.Helper()
	// The watcher's clients, and a writer over them, as `guildhall watcher` builds them.
	dyn, kube := dynamic.NewForConfigOrDie(c.sa), kubernetes.NewForConfigOrDie(c.sa)
	writer := &attest.Writer{Dynamic: dyn, Events: kube.CoreV1(), Now: time.Now}
	aw := sdkworker.New(c.tc, attest.TaskQueue, sdkworker.Options{})
	(&attest.Activities{W: writer}).Register(aw)
	if err := aw.Start(); err != nil {
		t.Fatal(err)
	}
	w := watcher.New(watcher.Config{Logger: c.logs.logger("watcher")}, dyn, kube, &watcher.TemporalWorkflows{C: c.cc}, writer)
	ctx, cancel := context.WithCancel(context.Background())
	p := &watcherProcess{w: w, aw: aw, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- w.Run(ctx) }()
	c.proc = p
}

func (c *cluster) stopWatcher(t *testing.T) {
	t.Helper()
	if c.proc == nil {
		return
	}
	c.proc.cancel()
	select {
	case err := <-c.proc.done:
		if err != nil {
			t.Errorf("watcher: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("watcher did not stop within 30s")
	}
	c.proc.aw.Stop()
	c.proc = nil
}

// restartWatcher restarts the watcher process and waits until the new one has
// synced every Ceremony in the cluster (n of them) and its queue is empty.
func (c *cluster) restartWatcher(t *testing.T, n int) {
	t.Helper()
	c.stopWatcher(t)
	c.startWatcher(t)
	m := c.proc.w.Metrics()
	testenv.Eventually(t, time.Minute, "the restarted watcher synced every Ceremony", func() bool {
		fams, _ := m.Registry.Gather()
		adds, depth := 0.0, -1.0
		for _, f := range fams {
			for _, mt := range f.GetMetric() {
				switch {
				case f.GetName() == "guildhall_watcher_events_total" && len(mt.GetLabel()) == 1 && mt.GetLabel()[0].GetValue() == "add":
					adds = mt.GetCounter().GetValue()
				case f.GetName() == "guildhall_watcher_queue_depth":
					depth = mt.GetGauge().GetValue()
				}
			}
		}
		return adds >= float64(n) && depth == 0
	})
	time.Sleep(time.Second) // the last key's sync finishes after it leaves the queue
}

// table is what kubectl shows: the API server's Table for a resource in ns.
func (c *cluster) table(t *testing.T, ns, resource string) metav1.Table {
	t.Helper()
	hc, err := rest.HTTPClientFor(c.kube.Config)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, c.kube.URL+"/apis/"+crd.Group+"/"+crd.Version+"/namespaces/"+ns+"/"+resource+"?includeObject=None", nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("table of %s: %s %s", resource, resp.Status, body)
	}
	var tab metav1.Table
	if err := json.Unmarshal(body, &tab); err != nil {
		t.Fatal(err)
	}
	return tab
}

// row returns the named row of a table as column name → cell.
func row(t *testing.T, tab metav1.Table, name string) map[string]any {
	t.Helper()
	for _, r := range tab.Rows {
		if r.Cells[0] == name {
			out := map[string]any{}
			for i, c := range tab.ColumnDefinitions {
				out[c.Name] = r.Cells[i]
			}
			return out
		}
	}
	t.Fatalf("no row %s in %+v", name, tab.Rows)
	return nil
}

func (c *cluster) attestation(ns, name string) (*unstructured.Unstructured, error) {
	return c.admin.Resource(crd.AttestationGVR).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
}

// logRecorder keeps every log line at WARN and above (and prints them); the
// tests assert on the ERROR ones.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) logger(component string) *slog.Logger {
	return slog.New(&recordingHandler{rec: l, next: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})}).With("component", component)
}

// errors returns the ERROR lines logged so far.
func (l *logRecorder) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		if strings.HasPrefix(s, "ERROR ") {
			out = append(out, s)
		}
	}
	return out
}

type recordingHandler struct {
	rec   *logRecorder
	next  slog.Handler
	attrs []slog.Attr
}

func (h *recordingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *recordingHandler) Handle(ctx context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s", a)
	}
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s", a); return true })
	h.rec.mu.Lock()
	h.rec.lines = append(h.rec.lines, b.String())
	h.rec.mu.Unlock()
	return h.next.Handle(ctx, r)
}

func (h *recordingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recordingHandler{rec: h.rec, next: h.next.WithAttrs(as), attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}

func (h *recordingHandler) WithGroup(name string) slog.Handler {
	return &recordingHandler{rec: h.rec, next: h.next.WithGroup(name), attrs: h.attrs}
}
