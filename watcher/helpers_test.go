package watcher

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"

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

// notes is what the watcher records, written by the real attest.Writer into the
// fake clients: refusals in the attestation's spec.refused (in the fake dynamic
// client the watcher reads Ceremonies from) and Events in a fake clientset of
// their own. Share one between watchers (with its dynamic client) to model a
// restart.
type notes struct {
	*attest.Writer
	kube *kubefake.Clientset
}

func newNotes(dyn *dynamicfake.FakeDynamicClient) *notes {
	kube := kubefake.NewClientset()
	return &notes{Writer: &attest.Writer{Dynamic: dyn, Events: kube.CoreV1(), Now: time.Now}, kube: kube}
}

// matching lists the recorded Events that start with prefix, as
// "Type Reason Message" lines.
func (n *notes) matching(prefix string) []string {
	list, err := n.kube.CoreV1().Events(metav1.NamespaceAll).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		panic(err) // the fake clientset does not fail a List
	}
	var out []string
	for _, e := range list.Items {
		if line := e.Type + " " + e.Reason + " " + e.Message; strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return out
}

func newDynamic(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{crd.CeremonyGVR: "CeremonyList", crd.AttestationGVR: "CeremonyAttestationList"}, objs...)
}

// running is a watcher under test.
type running struct {
	w      *Watcher
	notes  *notes
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
	return startWatcherWith(t, cfg, dyn, kubefake.NewClientset(), wf, newNotes(dyn))
}

func startWatcherWith(t *testing.T, cfg Config, dyn *dynamicfake.FakeDynamicClient, kube *kubefake.Clientset, wf Workflows, notes *notes) *running {
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
