package integration_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/watcher"
	"github.com/guildhouse/guildhall/watcher/crd"
)

// TestLifecycle: create → workflow running; edit spec → spec-changed; substrate
// phase → substrate-decision; delete → cancel and the workflow closes.
func TestLifecycle(t *testing.T) {
	ns := namespace(t)
	r := startWatcher(t, watcher.Config{Namespaces: []string{ns}})
	id := crd.CeremonyID(ns, "release-v1")
	uid := ""

	obj, at := createCeremony(t, ns, "release-v1", validSpec())
	uid = string(obj.GetUID())
	s := waitSignal(t, id, specKey(obj), watcher.KindStart, at)
	var first contract.SpecChanged
	if err := json.Unmarshal(s.Raw, &first); err != nil {
		t.Fatal(err)
	}
	if s.Name != contract.SignalSpecChanged || first.Generation != 1 || first.Spec.ID != id || first.Spec.Source != "cluster" ||
		first.Spec.Quorum.Threshold != 2 || first.Spec.Artifact.Digest != digest || first.Spec.Deadline.IsZero() {
		t.Fatalf("start message = %s %s", s.Name, s.Raw)
	}
	if st, ok := workflowStatus(t, id); !ok || st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("workflow status %v (exists %v), want running", st, ok)
	}
	desc, err := tc.DescribeWorkflowExecution(context.Background(), contract.WorkflowID(id), "")
	if err != nil {
		t.Fatal(err)
	}
	if desc.GetWorkflowExecutionInfo().GetType().GetName() != contract.WorkflowType || desc.GetWorkflowExecutionInfo().GetTaskQueue() != contract.TaskQueue {
		t.Fatalf("workflow type/queue = %s/%s", desc.GetWorkflowExecutionInfo().GetType().GetName(), desc.GetWorkflowExecutionInfo().GetTaskQueue())
	}

	obj, at = editSpec(t, ns, "release-v1", func(s map[string]any) {
		s["witnesses"] = append(s["witnesses"].([]any), map[string]any{"id": "erin@guildhouse.dev", "role": "maintainer"})
	})
	if obj.GetGeneration() != 2 {
		t.Fatalf("generation after edit = %d", obj.GetGeneration())
	}
	waitSignal(t, id, specKey(obj), watcher.KindSpec, at)
	st, err := ceremonyclient.New(tc).Status(context.Background(), id)
	if err != nil || st.Spec.Generation != 2 || len(st.Spec.Witnesses) != 4 {
		t.Fatalf("status after spec-changed: generation %d, %d witnesses, err %v", st.Spec.Generation, len(st.Spec.Witnesses), err)
	}

	at = setPhase(t, ns, "release-v1", "Collecting")
	waitSignal(t, id, watcher.DecisionKey(uid, "Collecting", 2), watcher.KindDecision, at)
	at = setPhase(t, ns, "release-v1", "Sealed")
	d := waitSignal(t, id, watcher.DecisionKey(uid, "Sealed", 2), watcher.KindDecision, at)
	var dec contract.SubstrateDecision
	_ = json.Unmarshal(d.Raw, &dec)
	if dec.Phase != "Sealed" || dec.Generation != 2 {
		t.Fatalf("decision = %s", d.Raw)
	}

	at = deleteCeremony(t, ns, "release-v1")
	c := waitSignal(t, id, watcher.CancelKey(uid), watcher.KindCancel, at)
	var cancel contract.Cancel
	_ = json.Unmarshal(c.Raw, &cancel)
	if cancel.By != "watcher" || cancel.Reason != "resource deleted" {
		t.Fatalf("cancel = %s", c.Raw)
	}
	testenv.Eventually(t, 20*time.Second, "workflow closed", func() bool {
		st, _ := workflowStatus(t, id)
		return st == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	})
	// The writer creates each Event once under a fixed name and never bumps its
	// count, so "once" is the number of Events, not an Event's Count.
	if e := waitEvent(t, ns, "release-v1", contract.EventCeremonyCancelled); e.InvolvedObject.UID != obj.GetUID() {
		t.Errorf("CeremonyCancelled event %+v", e)
	}
	if got := events(t, ns, "release-v1", contract.EventCeremonyCancelled); len(got) != 1 {
		t.Errorf("%d CeremonyCancelled Events, want 1", len(got))
	}
	checkExactly(t, id, watcher.SpecKey(uid, 1), watcher.SpecKey(uid, 2),
		watcher.DecisionKey(uid, "Collecting", 2), watcher.DecisionKey(uid, "Sealed", 2), watcher.CancelKey(uid))
	if got := metric(t, r.W, "guildhall_watcher_errors_total", "stage", "sync"); got != 0 {
		t.Errorf("errors_total{sync} = %v", got)
	}
}

// TestResyncAndRestart: frequent resyncs, then a restarted watcher with empty
// memory, send nothing already delivered — and the restarted one still forwards
// new changes.
func TestResyncAndRestart(t *testing.T) {
	ns := namespace(t)
	cfg := watcher.Config{Namespaces: []string{ns}, Resync: time.Second}
	a := startWatcher(t, cfg)
	names := []string{"c0", "c1", "c2"}
	objs := map[string]*unstructured.Unstructured{}
	for _, n := range names {
		obj, at := createCeremony(t, ns, n, validSpec())
		objs[n] = obj
		waitSignal(t, crd.CeremonyID(ns, n), specKey(obj), watcher.KindStart, at)
		at = setPhase(t, ns, n, "Pending")
		waitSignal(t, crd.CeremonyID(ns, n), watcher.DecisionKey(string(obj.GetUID()), "Pending", 1), watcher.KindDecision, at)
	}
	testenv.Eventually(t, 20*time.Second, "3 resync rounds", func() bool {
		return metric(t, a.W, "guildhall_watcher_events_total", "type", "resync") >= float64(3*len(names))
	})
	if got := sentTotal(t, a.W); got != 6 {
		t.Fatalf("first watcher sent %v messages, want 6", got)
	}
	a.stop(t)

	b := startWatcher(t, cfg)
	testenv.Eventually(t, 20*time.Second, "3 resync rounds after restart", func() bool {
		return metric(t, b.W, "guildhall_watcher_events_total", "type", "resync") >= float64(3*len(names))
	})
	if got := sentTotal(t, b.W); got != 0 {
		t.Fatalf("restarted watcher sent %v messages for unchanged Ceremonies", got)
	}
	obj, at := editSpec(t, ns, "c0", func(s map[string]any) { s["description"] = "amended after restart" })
	waitSignal(t, crd.CeremonyID(ns, "c0"), specKey(obj), watcher.KindSpec, at)
	for _, n := range names {
		uid := string(objs[n].GetUID())
		keys := []string{watcher.SpecKey(uid, 1), watcher.DecisionKey(uid, "Pending", 1)}
		if n == "c0" {
			keys = append(keys, watcher.SpecKey(uid, 2))
		}
		checkExactly(t, crd.CeremonyID(ns, n), keys...)
	}
}

// TestTwoWatchers: two replicas elect a leader on the real Lease (under the
// ServiceAccount's namespaced Role); only the leader sends; after it stops, the
// other takes over and nothing is lost or repeated.
func TestTwoWatchers(t *testing.T) {
	ns := namespace(t)
	cfg := func(id string) watcher.Config {
		// All namespaces, as deployed; assertions look at this test's namespace only.
		return watcher.Config{LeaseNamespace: saNamespace, LeaseName: watcher.DefaultLeaseName, Identity: id, Resync: time.Second,
			LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 250 * time.Millisecond}
	}
	a := startWatcher(t, cfg("replica-a"))
	b := startWatcher(t, cfg("replica-b"))
	var leader, follower *watcherRun
	testenv.Eventually(t, 30*time.Second, "a leader", func() bool {
		la, lb := metric(t, a.W, "guildhall_watcher_leader"), metric(t, b.W, "guildhall_watcher_leader")
		switch {
		case la == 1 && lb == 0:
			leader, follower = a, b
		case lb == 1 && la == 0:
			leader, follower = b, a
		}
		return leader != nil
	})
	c1, at := createCeremony(t, ns, "c1", validSpec())
	waitSignal(t, crd.CeremonyID(ns, "c1"), specKey(c1), watcher.KindStart, at)
	c2, at := createCeremony(t, ns, "c2", validSpec())
	waitSignal(t, crd.CeremonyID(ns, "c2"), specKey(c2), watcher.KindStart, at)
	testenv.Eventually(t, 10*time.Second, "resyncs on the follower", func() bool {
		return metric(t, follower.W, "guildhall_watcher_events_total", "type", "resync") >= 4
	})
	if got := sentTotal(t, follower.W); got != 0 {
		t.Fatalf("follower sent %v messages", got)
	}

	stoppedAt := time.Now()
	leader.stop(t)
	testenv.Eventually(t, 30*time.Second, "follower takes the lease", func() bool {
		return metric(t, follower.W, "guildhall_watcher_leader") == 1
	})
	t.Logf("handover after graceful stop took %s", time.Since(stoppedAt).Round(time.Millisecond))
	lease, err := adminKube().CoordinationV1().Leases(saNamespace).Get(context.Background(), watcher.DefaultLeaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[*watcherRun]string{a: "replica-a", b: "replica-b"}[follower]; lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != want {
		t.Fatalf("lease held by %v, want %s", lease.Spec.HolderIdentity, want)
	}
	c3, at := createCeremony(t, ns, "c3", validSpec())
	waitSignal(t, crd.CeremonyID(ns, "c3"), specKey(c3), watcher.KindStart, at)
	c1, at = editSpec(t, ns, "c1", func(s map[string]any) { s["description"] = "after handover" })
	waitSignal(t, crd.CeremonyID(ns, "c1"), specKey(c1), watcher.KindSpec, at)
	time.Sleep(1500 * time.Millisecond) // a resync round on the new leader
	u1, u2, u3 := string(c1.GetUID()), string(c2.GetUID()), string(c3.GetUID())
	checkExactly(t, crd.CeremonyID(ns, "c1"), watcher.SpecKey(u1, 1), watcher.SpecKey(u1, 2))
	checkExactly(t, crd.CeremonyID(ns, "c2"), watcher.SpecKey(u2, 1))
	checkExactly(t, crd.CeremonyID(ns, "c3"), watcher.SpecKey(u3, 1))
}

// TestInvalidResources: the schema refuses what it can at admission; what passes it
// but cannot work gets a Warning Event and no workflow, and does not hold up the
// valid Ceremony behind it.
func TestInvalidResources(t *testing.T) {
	ns := namespace(t)
	r := startWatcher(t, watcher.Config{Namespaces: []string{ns}, Workers: 1})

	admission := map[string]func(map[string]any){
		"digest":       func(s map[string]any) { s["artifact"].(map[string]any)["digest"] = "sha256:XYZ" },
		"threshold-0":  func(s map[string]any) { s["quorum"].(map[string]any)["threshold"] = int64(0) },
		"no-witnesses": func(s map[string]any) { s["witnesses"] = []any{} },
		"deadline":     func(s map[string]any) { s["deadline"] = "next tuesday" },
		"threshold>n":  func(s map[string]any) { s["quorum"].(map[string]any)["threshold"] = int64(4) },
		"unknown-role": func(s map[string]any) { s["quorum"].(map[string]any)["veto"] = []any{"legal"} },
	}
	for name, mutate := range admission {
		spec := validSpec()
		mutate(spec)
		u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
		u.SetGroupVersionKind(crd.CeremonyGVK)
		u.SetName("rejected-at-admission")
		_, err := ceremonies(ns).Create(context.Background(), u, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) {
			t.Errorf("%s: create err = %v, want Invalid from the CRD schema", name, err)
		}
	}

	past := validSpec()
	past["deadline"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	createCeremony(t, ns, "past-deadline", past)
	twice := validSpec()
	twice["witnesses"] = []any{map[string]any{"id": "alice@guildhouse.dev", "role": "maintainer"},
		map[string]any{"id": "alice@guildhouse.dev", "role": "security"}, map[string]any{"id": "dora@guildhouse.dev"}}
	twice["quorum"] = map[string]any{"threshold": int64(2)}
	createCeremony(t, ns, "unreachable", twice)
	// A rule the schema cannot express: the rules package refuses it, as the
	// workflow would, so it gets a Warning and never a workflow.
	short := validSpec()
	short["quorum"].(map[string]any)["roles"] = map[string]any{"maintainer": int64(3)}
	createCeremony(t, ns, "role-short", short)
	good, at := createCeremony(t, ns, "good", validSpec())

	waitSignal(t, crd.CeremonyID(ns, "good"), specKey(good), watcher.KindStart, at)
	e1 := waitEvent(t, ns, "past-deadline", contract.EventSpecRefused)
	e2 := waitEvent(t, ns, "unreachable", contract.EventSpecRefused)
	e3 := waitEvent(t, ns, "role-short", contract.EventSpecRefused)
	for _, e := range []struct {
		ev   string
		typ  string
		want string
	}{{e1.Message, e1.Type, "in the past"}, {e2.Message, e2.Type, "2 approvals needed, at most 1"}, {e3.Message, e3.Type, "role maintainer needs 3 approvals, at most 2 reachable"}} {
		if e.typ != "Warning" || !strings.Contains(e.ev, e.want) {
			t.Errorf("event %s %q does not say %q", e.typ, e.ev, e.want)
		}
	}
	for _, n := range []string{"past-deadline", "unreachable", "role-short"} {
		if _, found := workflowStatus(t, crd.CeremonyID(ns, n)); found {
			t.Errorf("a workflow exists for invalid Ceremony %s", n)
		}
	}
	if got := metric(t, r.W, "guildhall_watcher_specs_refused_total"); got != 3 {
		t.Errorf("specs_refused_total = %v", got)
	}
	if got := metric(t, r.W, "guildhall_watcher_errors_total", "stage", "sync"); got != 0 {
		t.Errorf("errors_total{sync} = %v", got)
	}
	checkExactly(t, crd.CeremonyID(ns, "good"), specKey(good))
}

// TestDeletedWhileNoWatcher: a Ceremony deleted while no watcher ran still gets its
// cancel: the next leader finds the orphaned workflow.
func TestDeletedWhileNoWatcher(t *testing.T) {
	ns := namespace(t)
	cfg := watcher.Config{Namespaces: []string{ns}}
	a := startWatcher(t, cfg)
	obj, at := createCeremony(t, ns, "orphan", validSpec())
	id := crd.CeremonyID(ns, "orphan")
	waitSignal(t, id, specKey(obj), watcher.KindStart, at)
	a.stop(t)
	at = deleteCeremony(t, ns, "orphan")
	b := startWatcher(t, cfg)
	uid := string(obj.GetUID())
	waitSignal(t, id, watcher.CancelKey(uid), "cancel-after-restart", time.Time{})
	t.Logf("cancel for a Ceremony deleted while down arrived %s after the delete (includes the restart)", time.Since(at).Round(time.Millisecond))
	checkExactly(t, id, watcher.SpecKey(uid, 1), watcher.CancelKey(uid))
	if got := metric(t, b.W, "guildhall_watcher_messages_sent_total", "kind", watcher.KindCancel); got != 1 {
		t.Errorf("cancels sent = %v", got)
	}
}

// TestContinueAsNew: after the workflow continued as new, a restarted watcher still
// finds what earlier runs received (and which Ceremony opened them) and sends only
// what is new.
func TestContinueAsNew(t *testing.T) {
	ns := namespace(t)
	cfg := watcher.Config{Namespaces: []string{ns}}
	a := startWatcher(t, cfg)
	id := crd.CeremonyID(ns, "long")
	obj, at := createCeremony(t, ns, "long", validSpec())
	uid := string(obj.GetUID())
	waitSignal(t, id, specKey(obj), watcher.KindStart, at)
	obj, at = editSpec(t, ns, "long", func(s map[string]any) { s["description"] = continueAsNew })
	waitSignal(t, id, specKey(obj), watcher.KindSpec, at)
	testenv.Eventually(t, 20*time.Second, "a second run", func() bool {
		d, err := tc.DescribeWorkflowExecution(context.Background(), contract.WorkflowID(id), "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && lastRunContinued(t, id)
	})
	a.stop(t)

	led, err := (&watcher.TemporalWorkflows{C: ceremonyclient.New(tc)}).Lookup(context.Background(), id)
	if err != nil || led.UID != uid || !led.Running || !led.Sent[watcher.SpecKey(uid, 1)] || !led.Sent[watcher.SpecKey(uid, 2)] {
		t.Fatalf("ledger after continue-as-new = %+v, %v", led, err)
	}
	b := startWatcher(t, cfg)
	at = setPhase(t, ns, "long", "Collecting")
	waitSignal(t, id, watcher.DecisionKey(uid, "Collecting", 2), watcher.KindDecision, at)
	checkExactly(t, id, watcher.SpecKey(uid, 1), watcher.SpecKey(uid, 2), watcher.DecisionKey(uid, "Collecting", 2))
	if got := sentTotal(t, b.W); got != 1 {
		t.Errorf("restarted watcher sent %v messages, want 1", got)
	}
}

// lastRunContinued reports whether the latest run was started by continue-as-new.
func lastRunContinued(t *testing.T, id string) bool {
	_, prev, _, ok := runHistory(t, id, "")
	return ok && prev != ""
}
