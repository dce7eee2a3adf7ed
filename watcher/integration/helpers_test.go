package integration_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/kubetest"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/watcher"
	"github.com/guildhouse/guildhall/watcher/crd"
)

const digest = "sha256:4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7"

var nsSeq atomic.Int64

// admin is the cluster as the substrate and people see it (full rights).
func admin() dynamic.Interface { return dynamic.NewForConfigOrDie(kube.Config) }

func adminKube() kubernetes.Interface { return kubernetes.NewForConfigOrDie(kube.Config) }

// namespace creates a fresh namespace so tests do not see each other's Ceremonies.
func namespace(t testing.TB) string {
	t.Helper()
	ns := fmt.Sprintf("t%d-%s", nsSeq.Add(1), strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")))
	if len(ns) > 60 {
		ns = ns[:60]
	}
	ns = strings.TrimRight(ns, "-")
	if err := kubetest.EnsureNamespace(context.Background(), admin(), ns); err != nil {
		t.Fatal(err)
	}
	return ns
}

func validSpec() map[string]any {
	return map[string]any{
		"kind":      "release",
		"artifact":  map[string]any{"name": "guildhall-web", "digest": digest, "uri": "oci://registry.example/web:v1"},
		"initiator": "dora@guildhouse.dev",
		"witnesses": []any{
			map[string]any{"id": "alice@guildhouse.dev", "role": "maintainer"},
			map[string]any{"id": "bob@guildhouse.dev", "role": "maintainer"},
			map[string]any{"id": "carol@guildhouse.dev", "role": "security"},
		},
		"quorum":      map[string]any{"threshold": int64(2), "roles": map[string]any{"maintainer": int64(1)}, "veto": []any{"security"}},
		"deadline":    time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339),
		"description": "integration test",
	}
}

func ceremonies(ns string) dynamic.ResourceInterface {
	return admin().Resource(crd.CeremonyGVR).Namespace(ns)
}

// createCeremony creates a Ceremony and returns it and when the API call returned.
func createCeremony(t *testing.T, ns, name string, spec map[string]any) (*unstructured.Unstructured, time.Time) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(crd.CeremonyGVK)
	u.SetName(name)
	began := time.Now()
	got, err := ceremonies(ns).Create(context.Background(), u, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create ceremony %s/%s: %v", ns, name, err)
	}
	return got, began
}

// editSpec applies f to the spec (the API server bumps the generation).
func editSpec(t *testing.T, ns, name string, f func(spec map[string]any)) (*unstructured.Unstructured, time.Time) {
	t.Helper()
	ctx := context.Background()
	u, err := ceremonies(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f(u.Object["spec"].(map[string]any))
	began := time.Now()
	got, err := ceremonies(ns).Update(ctx, u, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("edit %s/%s: %v", ns, name, err)
	}
	return got, began
}

// setPhase writes status as the substrate would, through the status subresource.
func setPhase(t *testing.T, ns, name, phase string) time.Time {
	t.Helper()
	ctx := context.Background()
	u, err := ceremonies(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(u.Object, phase, "status", "phase")
	_ = unstructured.SetNestedField(u.Object, u.GetGeneration(), "status", "observedGeneration")
	began := time.Now()
	if _, err := ceremonies(ns).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("set phase of %s/%s: %v", ns, name, err)
	}
	return began
}

func deleteCeremony(t *testing.T, ns, name string) time.Time {
	t.Helper()
	began := time.Now()
	if err := ceremonies(ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	return began
}

// watcherRun is a watcher running in the test process under the ServiceAccount.
type watcherRun struct {
	W      *watcher.Watcher
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func startWatcher(t testing.TB, cfg watcher.Config) *watcherRun {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	dyn := dynamic.NewForConfigOrDie(saCfg)
	kc := kubernetes.NewForConfigOrDie(saCfg)
	w := watcher.New(cfg, dyn, kc, &watcher.TemporalWorkflows{C: ceremonyclient.New(tc)}, newWriter(t))
	ctx, cancel := context.WithCancel(context.Background())
	r := &watcherRun{W: w, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = w.Run(ctx)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *watcherRun) stop(t testing.TB) {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Errorf("watcher did not stop within 30s")
	}
	if r.err != nil {
		t.Errorf("watcher Run: %v", r.err)
	}
}

// metric reads one of the watcher's counters or gauges.
func metric(t testing.TB, w *watcher.Watcher, name string, labels ...string) float64 {
	t.Helper()
	fams, err := w.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				ok := false
				for _, lp := range m.GetLabel() {
					ok = ok || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !ok {
					continue next
				}
			}
			if m.Counter != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func sentTotal(t *testing.T, w *watcher.Watcher) float64 {
	var n float64
	for _, k := range []string{watcher.KindStart, watcher.KindSpec, watcher.KindDecision, watcher.KindCancel} {
		n += metric(t, w, "guildhall_watcher_messages_sent_total", "kind", k)
	}
	return n
}

// signal is one signal as Temporal recorded it.
type signal struct {
	Name string
	Key  string
	At   time.Time
	Raw  json.RawMessage
}

// history reads the workflow of ceremony id across all its runs (following
// continue-as-new back to the first): the signals received, in order, and whether
// the latest run has closed. found is false when no workflow exists.
func history(t *testing.T, id string) (sigs []signal, closed, found bool) {
	t.Helper()
	runID := ""
	for first := true; ; first = false {
		runSigs, prev, runClosed, ok := runHistory(t, id, runID)
		if !ok {
			return sigs, closed, !first
		}
		sigs = append(runSigs, sigs...)
		if first {
			closed = runClosed
		}
		if prev == "" {
			return sigs, closed, true
		}
		runID = prev
	}
}

func runHistory(t *testing.T, id, runID string) (sigs []signal, prev string, closed, found bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	it := tc.GetWorkflowHistory(ctx, contract.WorkflowID(id), runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return nil, "", false, false
		}
		if err != nil {
			t.Fatalf("history of %s: %v", id, err)
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			prev = ev.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			a := ev.GetWorkflowExecutionSignaledEventAttributes()
			var raw json.RawMessage
			_ = converter.GetDefaultDataConverter().FromPayload(a.GetInput().GetPayloads()[0], &raw)
			var k struct {
				IdempotencyKey string `json:"idempotencyKey"`
			}
			_ = json.Unmarshal(raw, &k)
			sigs = append(sigs, signal{Name: a.GetSignalName(), Key: k.IdempotencyKey, At: ev.GetEventTime().AsTime(), Raw: raw})
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
			closed = true
		}
	}
	return sigs, prev, closed, true
}

// waitSignal waits until the workflow of id has received a signal with key, and
// records the time from since (just before the API write) to the signal's event
// time in Temporal as a latency of kind. Both clocks are this machine's.
func waitSignal(t *testing.T, id, key, kind string, since time.Time) signal {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		sigs, _, _ := history(t, id)
		for _, s := range sigs {
			if s.Key == key {
				if !since.IsZero() {
					stats.addLatency(kind, s.At.Sub(since))
				}
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("workflow of %s never received %s (%s); got %v", id, kind, key, names(sigs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func names(sigs []signal) []string {
	out := make([]string, len(sigs))
	for i, s := range sigs {
		out[i] = s.Name + "(" + s.Key + ")"
	}
	return out
}

// checkExactly asserts the workflow received exactly these signal keys, in order,
// none twice, and adds them to the duplicate statistics.
func checkExactly(t *testing.T, id string, keys ...string) {
	t.Helper()
	sigs, _, _ := history(t, id)
	seen := map[string]int{}
	dups := 0
	for _, s := range sigs {
		if seen[s.Key]++; seen[s.Key] > 1 {
			dups++
		}
	}
	stats.addDuplicates(dups, len(sigs))
	got := make([]string, len(sigs))
	for i, s := range sigs {
		got[i] = s.Key
	}
	if strings.Join(got, " ") != strings.Join(keys, " ") {
		t.Errorf("workflow of %s received\n  %v\nwant\n  %v", id, got, keys)
	}
	if dups > 0 {
		t.Errorf("workflow of %s received %d duplicate messages", id, dups)
	}
}

// events lists the Events recorded on an object with a reason.
func events(t *testing.T, ns, name, reason string) []corev1.Event {
	t.Helper()
	list, err := adminKube().CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{
		FieldSelector: "involvedObject.name=" + name + ",reason=" + reason,
	})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func waitEvent(t *testing.T, ns, name, reason string) corev1.Event {
	t.Helper()
	var got []corev1.Event
	testenv.Eventually(t, 20*time.Second, fmt.Sprintf("Event %s on %s/%s", reason, ns, name), func() bool {
		got = events(t, ns, name, reason)
		return len(got) > 0
	})
	return got[0]
}

// workflowStatus describes the ceremony's workflow.
func workflowStatus(t *testing.T, id string) (enumspb.WorkflowExecutionStatus, bool) {
	t.Helper()
	d, err := tc.DescribeWorkflowExecution(context.Background(), contract.WorkflowID(id), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return d.GetWorkflowExecutionInfo().GetStatus(), true
}

func specKey(u *unstructured.Unstructured) string {
	return watcher.SpecKey(string(u.GetUID()), u.GetGeneration())
}
