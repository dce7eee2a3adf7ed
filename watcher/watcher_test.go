package watcher

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/watcher/crd"
)

// TestLifecycle walks one Ceremony through create, spec edit, substrate phases and
// deletion, and checks each change causes exactly its one message.
func TestLifecycle(t *testing.T) {
	dyn, wf := newDynamic(), newFakeWorkflows()
	r := startWatcher(t, Config{}, dyn, wf)
	ctx := context.Background()

	obj := ceremonyObj("default", "rel", "uid-1", 1, validSpec())
	create(t, dyn, obj)
	testenv.Eventually(t, 10*time.Second, "start", func() bool { return len(wf.messages()) == 1 })
	m := wf.messages()[0]
	sc := m.payload.(contract.SpecChanged)
	if m.kind != KindStart || m.ceremony != "default/rel" || m.key != SpecKey("uid-1", 1) {
		t.Fatalf("first message = %+v", m)
	}
	if sc.Spec.ID != "default/rel" || sc.Spec.Source != "cluster" || sc.Spec.Generation != 1 || sc.Generation != 1 ||
		sc.Spec.Quorum.Threshold != 2 || len(sc.Spec.Witnesses) != 3 || sc.Spec.Deadline.IsZero() || sc.Spec.Artifact.Digest != digest {
		t.Fatalf("start spec = %+v", sc.Spec)
	}
	if got := wf.runs["default/rel"].uid; got != "uid-1" {
		t.Fatalf("workflow opened for uid %q", got)
	}

	obj, _ = dyn.Resource(crd.CeremonyGVR).Namespace("default").Get(ctx, "rel", metav1.GetOptions{})
	_ = unstructured.SetNestedField(obj.Object, "amended", "spec", "description")
	obj.SetGeneration(2)
	update(t, dyn, obj)
	testenv.Eventually(t, 10*time.Second, "spec-changed", func() bool { return len(wf.messages()) == 2 })
	if m := wf.messages()[1]; m.kind != KindSpec || m.payload.(contract.SpecChanged).Generation != 2 || m.payload.(contract.SpecChanged).Spec.Description != "amended" {
		t.Fatalf("second message = %+v", m)
	}

	for i, phase := range []string{"Collecting", "Sealed"} {
		obj, _ = dyn.Resource(crd.CeremonyGVR).Namespace("default").Get(ctx, "rel", metav1.GetOptions{})
		_ = unstructured.SetNestedField(obj.Object, phase, "status", "phase")
		_ = unstructured.SetNestedField(obj.Object, int64(2), "status", "observedGeneration")
		update(t, dyn, obj)
		testenv.Eventually(t, 10*time.Second, phase, func() bool { return len(wf.messages()) == 3+i })
		d := wf.messages()[2+i].payload.(contract.SubstrateDecision)
		if d.Phase != phase || d.Generation != 2 || d.IdempotencyKey != DecisionKey("uid-1", phase, 2) {
			t.Fatalf("decision = %+v", d)
		}
	}

	if err := dyn.Resource(crd.CeremonyGVR).Namespace("default").Delete(ctx, "rel", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "cancel", func() bool { return len(wf.messages()) == 5 })
	c := wf.messages()[4].payload.(contract.Cancel)
	if c.By != "watcher" || c.Reason != "resource deleted" || c.IdempotencyKey != CancelKey("uid-1") {
		t.Fatalf("cancel = %+v", c)
	}
	settle()
	if got := strings.Join(wf.kinds(), ","); got != "start,spec-changed,substrate-decision,substrate-decision,cancel" {
		t.Fatalf("messages = %s", got)
	}
	// Opening and amendments are the workflow's to announce; the deletion is the
	// watcher's, once.
	if ev := r.notes.matching(""); len(ev) != 1 || !strings.HasPrefix(ev[0], "Normal "+contract.EventCeremonyCancelled+" Ceremony deleted: sending workflow ceremony/default/rel a cancel (resource deleted)") {
		t.Errorf("events = %q", ev)
	}
	if got := counter(t, r.w.Metrics(), "guildhall_watcher_messages_sent_total", "kind", KindDecision); got != 2 {
		t.Errorf("messages_sent_total{kind=substrate-decision} = %v", got)
	}
}

// TestResyncAndRestartSendNothing: frequent resyncs, then a fresh watcher (a
// restart, empty memory) over the same Temporal state, add no message.
func TestResyncAndRestartSendNothing(t *testing.T) {
	dyn, wf := newDynamic(), newFakeWorkflows()
	r := startWatcher(t, Config{Resync: time.Second}, dyn, wf) // client-go's minimum
	obj := ceremonyObj("default", "a", "uid-a", 3, validSpec())
	_ = unstructured.SetNestedField(obj.Object, "Collecting", "status", "phase")
	create(t, dyn, obj)
	testenv.Eventually(t, 10*time.Second, "start and decision", func() bool { return len(wf.messages()) == 2 })
	testenv.Eventually(t, 10*time.Second, "2 resyncs", func() bool {
		return counter(t, r.w.Metrics(), "guildhall_watcher_events_total", "type", "resync") >= 2
	})
	r.stop(t)

	lookups := wf.lookups
	r2 := startWatcher(t, Config{Resync: time.Second}, dyn, wf)
	testenv.Eventually(t, 10*time.Second, "restart lookup", func() bool {
		wf.mu.Lock()
		defer wf.mu.Unlock()
		return wf.lookups > lookups
	})
	testenv.Eventually(t, 10*time.Second, "resyncs after restart", func() bool {
		return counter(t, r2.w.Metrics(), "guildhall_watcher_events_total", "type", "resync") >= 1
	})
	if n := len(wf.messages()); n != 2 || wf.duplicates() != 0 {
		t.Fatalf("after resync and restart: %d messages (%v), %d duplicates", n, wf.kinds(), wf.duplicates())
	}
	if got := counter(t, r2.w.Metrics(), "guildhall_watcher_messages_sent_total", "kind", KindStart); got != 0 {
		t.Fatalf("restarted watcher sent %v starts", got)
	}
}

// TestInvalidResources: each bad spec gets one Warning Event (not one per resync),
// no workflow, and does not hold up a valid Ceremony queued behind it.
func TestInvalidResources(t *testing.T) {
	dyn, wf := newDynamic(), newFakeWorkflows()
	r := startWatcher(t, Config{Resync: time.Second, Workers: 1}, dyn, wf)
	bad := map[string]func(map[string]any){
		"threshold": func(s map[string]any) { s["quorum"].(map[string]any)["threshold"] = int64(9) },
		"role": func(s map[string]any) {
			s["quorum"].(map[string]any)["roles"] = map[string]any{"auditor": int64(1)}
		},
		"digest":   func(s map[string]any) { s["artifact"].(map[string]any)["digest"] = "sha256:nothex" },
		"deadline": func(s map[string]any) { s["deadline"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) },
		"shape":    func(s map[string]any) { s["quorum"].(map[string]any)["threshold"] = "two" },
	}
	for name, mutate := range bad {
		spec := validSpec()
		mutate(spec)
		create(t, dyn, ceremonyObj("default", "bad-"+name, "uid-"+name, 1, spec))
	}
	create(t, dyn, ceremonyObj("default", "good", "uid-good", 1, validSpec()))
	testenv.Eventually(t, 10*time.Second, "valid one started", func() bool { return len(wf.messages()) == 1 })
	testenv.Eventually(t, 10*time.Second, "warnings", func() bool { return len(r.notes.matching("Warning "+contract.EventSpecRefused)) == len(bad) })
	testenv.Eventually(t, 10*time.Second, "resyncs", func() bool {
		return counter(t, r.w.Metrics(), "guildhall_watcher_events_total", "type", "resync") >= 2*float64(len(bad)+1)
	})
	if n := len(r.notes.matching("Warning " + contract.EventSpecRefused)); n != len(bad) {
		t.Fatalf("%d warnings after resyncs, want %d (one each)", n, len(bad))
	}
	if m := wf.messages(); len(m) != 1 || m[0].ceremony != "default/good" {
		t.Fatalf("messages = %+v", m)
	}
	for _, want := range []string{"9 approvals needed", `"auditor", which no witness holds`, "artifact.digest", "in the past", "wrong shape"} {
		if len(r.notes.matching("Warning "+contract.EventSpecRefused+" Generation 1 not sent to Guildhall: ")) == 0 ||
			!strings.Contains(strings.Join(r.notes.matching("Warning"), "\n"), want) {
			t.Errorf("no warning mentions %q", want)
		}
	}
	if got := counter(t, r.w.Metrics(), "guildhall_watcher_specs_refused_total"); got != float64(len(bad)) {
		t.Errorf("specs_refused_total = %v", got)
	}
	if got := counter(t, r.w.Metrics(), "guildhall_watcher_errors_total", "stage", "sync"); got != 0 {
		t.Errorf("errors_total{sync} = %v: invalid specs must not be retried", got)
	}
}

// TestInvalidEditKeepsCeremony: a bad new generation is refused, the running
// workflow keeps its last good spec and still receives substrate decisions.
func TestInvalidEditKeepsCeremony(t *testing.T) {
	dyn, wf := newDynamic(), newFakeWorkflows()
	r := startWatcher(t, Config{}, dyn, wf)
	obj := ceremonyObj("default", "c", "uid-c", 1, validSpec())
	create(t, dyn, obj)
	testenv.Eventually(t, 10*time.Second, "start", func() bool { return len(wf.messages()) == 1 })
	obj.Object["spec"].(map[string]any)["quorum"].(map[string]any)["threshold"] = int64(7)
	obj.SetGeneration(2)
	_ = unstructured.SetNestedField(obj.Object, "Collecting", "status", "phase")
	update(t, dyn, obj)
	testenv.Eventually(t, 10*time.Second, "decision", func() bool { return len(wf.messages()) == 2 })
	settle()
	if got := strings.Join(wf.kinds(), ","); got != "start,substrate-decision" {
		t.Fatalf("messages = %s", got)
	}
	if n := len(r.notes.matching("Warning " + contract.EventSpecRefused + " Generation 2")); n != 1 {
		t.Fatalf("%d warnings for generation 2", n)
	}
}

// TestLostResponseIsNotDuplicated: the start lands in Temporal but the reply is
// lost; the retry re-reads the ledger and sends nothing twice.
func TestLostResponseIsNotDuplicated(t *testing.T) {
	dyn, wf := newDynamic(), newFakeWorkflows()
	wf.failNext[KindStart] = 1
	wf.deliverOnFail = true
	wf.failNext[KindDecision] = 1
	r := startWatcher(t, Config{}, dyn, wf)
	obj := ceremonyObj("default", "d", "uid-d", 1, validSpec())
	_ = unstructured.SetNestedField(obj.Object, "Pending", "status", "phase")
	create(t, dyn, obj)
	testenv.Eventually(t, 10*time.Second, "start and decision", func() bool { return len(wf.messages()) == 2 })
	settle()
	if n, d := len(wf.messages()), wf.duplicates(); n != 2 || d != 0 {
		t.Fatalf("%d messages, %d duplicates: %v", n, d, wf.kinds())
	}
	if got := counter(t, r.w.Metrics(), "guildhall_watcher_errors_total", "stage", "sync"); got != 2 {
		t.Errorf("errors_total{sync} = %v, want 2 retried failures", got)
	}
}

// TestTransientFailureRetries: Temporal refuses twice; the key backs off and the
// message is delivered once it answers, while another Ceremony is not held up.
func TestTransientFailureRetries(t *testing.T) {
	dyn, wf := newDynamic(), newFakeWorkflows()
	wf.failNext[KindStart] = 2
	startWatcher(t, Config{Workers: 1}, dyn, wf)
	create(t, dyn, ceremonyObj("default", "e", "uid-e", 1, validSpec()))
	create(t, dyn, ceremonyObj("default", "f", "uid-f", 1, validSpec()))
	testenv.Eventually(t, 10*time.Second, "both started", func() bool { return len(wf.messages()) == 2 })
	settle()
	if d := wf.duplicates(); d != 0 || len(wf.messages()) != 2 {
		t.Fatalf("%v, %d duplicates", wf.kinds(), d)
	}
}

// TestDeletedWhileNoWatcher: the resource vanished while no watcher ran; the orphan
// sweep finds its open workflow and cancels it. A ceremony opened elsewhere (no
// UID) is left alone.
func TestDeletedWhileNoWatcher(t *testing.T) {
	dyn, wf := newDynamic(), newFakeWorkflows()
	wf.runs["default/gone"] = &fakeRun{uid: "uid-gone", running: true, keys: map[string]bool{SpecKey("uid-gone", 1): true}}
	wf.runs["default/web"] = &fakeRun{running: true, keys: map[string]bool{}}
	startWatcher(t, Config{}, dyn, wf)
	testenv.Eventually(t, 10*time.Second, "cancel", func() bool { return len(wf.messages()) == 1 })
	settle()
	m := wf.messages()
	if len(m) != 1 || m[0].ceremony != "default/gone" || m[0].key != CancelKey("uid-gone") {
		t.Fatalf("messages = %+v", m)
	}
}

// TestReplacedResource: a Ceremony was deleted and re-created under the same name
// while no watcher ran. The old workflow is cancelled; the id is never reused, so
// the new resource is refused with a Warning instead of joining the old ceremony.
func TestReplacedResource(t *testing.T) {
	dyn, wf := newDynamic(ceremonyObj("default", "x", "uid-new", 1, validSpec())), newFakeWorkflows()
	wf.runs["default/x"] = &fakeRun{uid: "uid-old", running: true, keys: map[string]bool{SpecKey("uid-old", 1): true}}
	r := startWatcher(t, Config{}, dyn, wf)
	testenv.Eventually(t, 10*time.Second, "warning", func() bool { return len(r.notes.matching("Warning "+contract.EventWorkflowIDInUse)) == 1 })
	settle()
	m := wf.messages()
	if len(m) != 1 || m[0].kind != KindCancel || m[0].key != CancelKey("uid-old") {
		t.Fatalf("messages = %+v", m)
	}
}

// TestForeignWorkflowIsLeftAlone: the workflow id belongs to a ceremony opened
// from the web; the watcher warns and sends nothing, and resyncs of the same
// generation do not ask the cluster again whether the refusal is recorded.
func TestForeignWorkflowIsLeftAlone(t *testing.T) {
	dyn, wf := newDynamic(ceremonyObj("default", "w", "uid-w", 1, validSpec())), newFakeWorkflows()
	wf.runs["default/w"] = &fakeRun{running: true, keys: map[string]bool{}}
	r := startWatcher(t, Config{Resync: time.Second}, dyn, wf)
	testenv.Eventually(t, 10*time.Second, "warning", func() bool { return len(r.notes.matching("Warning "+contract.EventWorkflowIDInUse)) == 1 })
	testenv.Eventually(t, 10*time.Second, "2 resyncs", func() bool {
		return counter(t, r.w.Metrics(), "guildhall_watcher_events_total", "type", "resync") >= 2
	})
	settle()
	if m := wf.messages(); len(m) != 0 {
		t.Fatalf("messages = %+v", m)
	}
	reads := 0
	for _, a := range dyn.Actions() {
		if a.GetVerb() == "get" && a.GetResource() == crd.AttestationGVR {
			reads++
		}
	}
	if reads != 1 {
		t.Errorf("the attestation was read %d times for one refused generation, want 1", reads)
	}
}

// TestClosedWorkflow: after the ceremony ended, an edit goes nowhere and causes
// neither errors nor retries, but one Warning says it was not applied — also
// after a restart (the refusal is recorded where the next watcher reads it).
func TestClosedWorkflow(t *testing.T) {
	obj := ceremonyObj("default", "z", "uid-z", 1, validSpec())
	dyn, wf := newDynamic(obj), newFakeWorkflows()
	notes := newNotes(dyn)
	wf.runs["default/z"] = &fakeRun{uid: "uid-z", running: false, keys: map[string]bool{SpecKey("uid-z", 1): true}}
	r := startWatcherWith(t, Config{Resync: time.Second}, dyn, kubefake.NewClientset(), wf, notes)
	obj.SetGeneration(2)
	_ = unstructured.SetNestedField(obj.Object, "Sealed", "status", "phase")
	update(t, dyn, obj)
	testenv.Eventually(t, 10*time.Second, "SpecIgnored", func() bool { return len(notes.matching("Warning "+contract.EventSpecIgnored)) == 1 })
	testenv.Eventually(t, 10*time.Second, "a resync", func() bool {
		return counter(t, r.w.Metrics(), "guildhall_watcher_events_total", "type", "resync") >= 1
	})
	r.stop(t)
	r2 := startWatcherWith(t, Config{Resync: time.Second}, dyn, kubefake.NewClientset(), wf, notes)
	testenv.Eventually(t, 10*time.Second, "a resync after the restart", func() bool {
		return counter(t, r2.w.Metrics(), "guildhall_watcher_events_total", "type", "resync") >= 1
	})
	if m := wf.messages(); len(m) != 0 {
		t.Fatalf("messages = %+v", m)
	}
	if ev := notes.matching(""); len(ev) != 1 || !strings.Contains(ev[0], "Generation 2 not applied: the ceremony (workflow ceremony/default/z) has ended") {
		t.Fatalf("events = %q", ev)
	}
	if got := counter(t, r.w.Metrics(), "guildhall_watcher_errors_total", "stage", "sync") + counter(t, r2.w.Metrics(), "guildhall_watcher_errors_total", "stage", "sync"); got != 0 {
		t.Fatalf("errors_total{sync} = %v", got)
	}
}

// TestRefusalsSurviveRestart: a watcher restarted over invalid and refused
// Ceremonies announces none of them again.
func TestRefusalsSurviveRestart(t *testing.T) {
	past := validSpec()
	past["deadline"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	dyn := newDynamic(ceremonyObj("default", "past", "uid-p", 1, past), ceremonyObj("default", "reused", "uid-r2", 1, validSpec()))
	wf, notes := newFakeWorkflows(), newNotes(dyn)
	wf.runs["default/reused"] = &fakeRun{uid: "uid-r1", running: false, keys: map[string]bool{SpecKey("uid-r1", 1): true}}
	for i := range 3 {
		r := startWatcherWith(t, Config{Resync: time.Second}, dyn, kubefake.NewClientset(), wf, notes)
		testenv.Eventually(t, 10*time.Second, "both refused", func() bool { return len(notes.matching("Warning")) == 2 })
		testenv.Eventually(t, 10*time.Second, "resyncs", func() bool {
			return counter(t, r.w.Metrics(), "guildhall_watcher_events_total", "type", "resync") >= 2
		})
		if got, want := counter(t, r.w.Metrics(), "guildhall_watcher_specs_refused_total"), map[bool]float64{true: 2, false: 0}[i == 0]; got != want {
			t.Errorf("run %d: specs_refused_total = %v, want %v", i, got, want)
		}
		r.stop(t)
	}
	ev := strings.Join(notes.matching(""), "\n")
	if len(notes.matching("")) != 2 || !strings.Contains(ev, "Warning "+contract.EventSpecRefused) || !strings.Contains(ev, "Warning "+contract.EventWorkflowIDInUse) {
		t.Fatalf("events after three watchers = %q", ev)
	}
}

// TestNamespaces: a watcher limited to namespaces ignores the others.
func TestNamespaces(t *testing.T) {
	dyn, wf := newDynamic(), newFakeWorkflows()
	startWatcher(t, Config{Namespaces: []string{"team-a", "team-b"}}, dyn, wf)
	create(t, dyn, ceremonyObj("team-c", "n", "uid-c", 1, validSpec()))
	create(t, dyn, ceremonyObj("team-b", "n", "uid-b", 1, validSpec()))
	create(t, dyn, ceremonyObj("team-a", "n", "uid-a", 1, validSpec()))
	testenv.Eventually(t, 10*time.Second, "two starts", func() bool { return len(wf.messages()) == 2 })
	settle()
	for _, m := range wf.messages() {
		if strings.HasPrefix(m.ceremony, "team-c/") {
			t.Fatalf("message for an unwatched namespace: %+v", m)
		}
	}
}

// TestLeaderElection: two replicas over one fake cluster; one leads and sends,
// and after it stops the other takes over without repeating anything.
func TestLeaderElection(t *testing.T) {
	dyn, wf, kube := newDynamic(), newFakeWorkflows(), kubefake.NewClientset()
	cfg := func(id string) Config {
		return Config{LeaseName: DefaultLeaseName, LeaseNamespace: "guildhall", Identity: id, Logger: quietLogger(),
			Resync: time.Second, LeaseDuration: time.Second, RenewDeadline: 500 * time.Millisecond, RetryPeriod: 100 * time.Millisecond}
	}
	n := newNotes(dyn) // one cluster: both replicas record into it
	a := startWatcherWith(t, cfg("a"), dyn, kube, wf, n)
	testenv.Eventually(t, 10*time.Second, "a leads", func() bool { return counter(t, a.w.Metrics(), "guildhall_watcher_leader") == 1 })
	b := startWatcherWith(t, cfg("b"), dyn, kube, wf, n)
	create(t, dyn, ceremonyObj("default", "one", "uid-1", 1, validSpec()))
	testenv.Eventually(t, 10*time.Second, "start", func() bool { return len(wf.messages()) == 1 })
	settle()
	if counter(t, b.w.Metrics(), "guildhall_watcher_leader") != 0 || counter(t, b.w.Metrics(), "guildhall_watcher_messages_sent_total", "kind", KindStart) != 0 {
		t.Fatal("follower sent or claims to lead")
	}
	a.stop(t)
	create(t, dyn, ceremonyObj("default", "two", "uid-2", 1, validSpec()))
	testenv.Eventually(t, 10*time.Second, "b leads", func() bool { return counter(t, b.w.Metrics(), "guildhall_watcher_leader") == 1 })
	testenv.Eventually(t, 10*time.Second, "second start", func() bool { return len(wf.messages()) == 2 })
	settle()
	if d := wf.duplicates(); d != 0 || len(wf.messages()) != 2 {
		t.Fatalf("after handover: %v, %d duplicates", wf.kinds(), d)
	}
}

func TestHandler(t *testing.T) {
	dyn, wf := newDynamic(), newFakeWorkflows()
	r := startWatcher(t, Config{}, dyn, wf)
	srv := httptest.NewServer(r.w.Handler())
	defer srv.Close()
	testenv.Eventually(t, 10*time.Second, "ready", func() bool {
		resp, err := srv.Client().Get(srv.URL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	resp, err := srv.Client().Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp, err = srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"guildhall_watcher_events_total", "guildhall_watcher_messages_sent_total{kind=\"cancel\"}",
		"guildhall_watcher_queue_depth", "guildhall_watcher_leader 1", "guildhall_watcher_event_to_message_seconds"} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}
