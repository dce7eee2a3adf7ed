package watcher

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/guildhouse/guildhall/watcher/crd"
)

// digest is a well-formed artifact digest.
const digest = "sha256:4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7"

func validSpec() map[string]any {
	return map[string]any{
		"kind":      "release",
		"artifact":  map[string]any{"name": "web", "digest": digest},
		"initiator": "dora",
		"witnesses": []any{
			map[string]any{"id": "alice", "role": "maintainer"},
			map[string]any{"id": "bob", "role": "maintainer"},
			map[string]any{"id": "carol", "role": "security"},
		},
		"quorum":   map[string]any{"threshold": int64(2), "roles": map[string]any{"maintainer": int64(1)}, "veto": []any{"security"}},
		"deadline": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339),
	}
}

func ceremonyObj(ns, name, uid string, gen int64, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(crd.CeremonyGVK)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetUID(types.UID(uid))
	u.SetGeneration(gen)
	return u
}

// recorder collects Events as "Type Reason Message" lines.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) Event(_ runtime.Object, typ, reason, msg string) {
	r.mu.Lock()
	r.events = append(r.events, typ+" "+reason+" "+msg)
	r.mu.Unlock()
}

func (r *recorder) Eventf(o runtime.Object, typ, reason, format string, args ...any) {
	r.Event(o, typ, reason, fmt.Sprintf(format, args...))
}

func (r *recorder) AnnotatedEventf(o runtime.Object, _ map[string]string, typ, reason, format string, args ...any) {
	r.Eventf(o, typ, reason, format, args...)
}

func (r *recorder) matching(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

func newDynamic(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{crd.CeremonyGVR: "CeremonyList"}, objs...)
}

// running is a watcher under test.
type running struct {
	w      *Watcher
	rec    *recorder
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned; err is then set
	err    error
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Errorf("watcher Run: %v", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watcher did not stop")
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startWatcher(t *testing.T, cfg Config, dyn *dynamicfake.FakeDynamicClient, wf Workflows) *running {
	t.Helper()
	if cfg.Resync == 0 {
		cfg.Resync = time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	return startWatcherKube(t, cfg, dyn, kubefake.NewClientset(), wf)
}

func startWatcherKube(t *testing.T, cfg Config, dyn *dynamicfake.FakeDynamicClient, kube *kubefake.Clientset, wf Workflows) *running {
	t.Helper()
	rec := &recorder{}
	w := New(cfg, dyn, kube, wf, rec)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{w: w, rec: rec, cancel: cancel, done: make(chan struct{})}
	go func() { r.err = w.Run(ctx); close(r.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
		}
	})
	return r
}

// settle waits long enough for a watcher to have acted on anything pending.
func settle() { time.Sleep(150 * time.Millisecond) }

func update(t *testing.T, dyn *dynamicfake.FakeDynamicClient, obj *unstructured.Unstructured) {
	t.Helper()
	if _, err := dyn.Resource(crd.CeremonyGVR).Namespace(obj.GetNamespace()).Update(context.Background(), obj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func create(t *testing.T, dyn *dynamicfake.FakeDynamicClient, obj *unstructured.Unstructured) {
	t.Helper()
	if _, err := dyn.Resource(crd.CeremonyGVR).Namespace(obj.GetNamespace()).Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func counter(t *testing.T, m *Metrics, name string, labels ...string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, mt := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range mt.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case mt.Counter != nil:
				return mt.GetCounter().GetValue()
			case mt.Gauge != nil:
				return mt.GetGauge().GetValue()
			}
		}
	}
	return 0
}
