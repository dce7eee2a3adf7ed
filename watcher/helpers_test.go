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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/watcher/attest"
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

// fakeNotes is an in-memory cluster for what the watcher records: refusals by
// Ceremony UID (the attestation's spec.refused) and Events, once per UID and key,
// as "Type Reason Message" lines. Share one between watchers to model a restart.
type fakeNotes struct {
	mu       sync.Mutex
	refusals map[string]attest.Refusal // UID → the recorded refusal
	keys     map[string]bool           // UID/key of every Event
	events   []string
}

func newFakeNotes() *fakeNotes {
	return &fakeNotes{refusals: map[string]attest.Refusal{}, keys: map[string]bool{}}
}

func (n *fakeNotes) Refuse(ctx context.Context, cer *unstructured.Unstructured, r attest.Refusal, _ bool) (bool, error) {
	n.mu.Lock()
	got, ok := n.refusals[string(cer.GetUID())]
	n.mu.Unlock()
	if ok && got.Generation == r.Generation && got.Reason == r.Reason {
		return false, nil
	}
	ev := contract.ResourceEvent{Key: fmt.Sprintf("refused/%d", r.Generation), Warning: true, Reason: r.Reason, Message: r.Message}
	if err := n.Announce(ctx, attest.RefOf(cer), ev); err != nil {
		return false, err
	}
	n.mu.Lock()
	n.refusals[string(cer.GetUID())] = r
	n.mu.Unlock()
	return true, nil
}

func (n *fakeNotes) Announce(_ context.Context, ref corev1.ObjectReference, ev contract.ResourceEvent) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if k := string(ref.UID) + "/" + ev.Key; !n.keys[k] {
		n.keys[k] = true
		typ := "Normal"
		if ev.Warning {
			typ = "Warning"
		}
		n.events = append(n.events, typ+" "+ev.Reason+" "+ev.Message)
	}
	return nil
}

func (n *fakeNotes) matching(prefix string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, e := range n.events {
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
	notes  *fakeNotes
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
	return startWatcherWith(t, cfg, dyn, kubefake.NewClientset(), wf, newFakeNotes())
}

func startWatcherWith(t *testing.T, cfg Config, dyn *dynamicfake.FakeDynamicClient, kube *kubefake.Clientset, wf Workflows, notes *fakeNotes) *running {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	w := New(cfg, dyn, kube, wf, notes)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{w: w, notes: notes, cancel: cancel, done: make(chan struct{})}
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
