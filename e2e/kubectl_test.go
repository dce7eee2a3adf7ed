package e2e_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/kubetest"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/watcher/crd"
)

// TestWhatKubectlShows is issue 18 as a cluster operator sees it: a Ceremony
// applied, signed, amended (once refused), sealed, edited after it ended, one
// refused at creation, one deleted while collecting and re-created. After each
// step `kubectl get ceremonyattestations` (the API server's Table) says where
// the ceremony is; every outcome is exactly one Event, also across two watcher
// restarts; nothing on the normal paths logs an ERROR.
func TestWhatKubectlShows(t *testing.T) {
	env := newCluster(t)
	ctx := context.Background()
	const ns = "ops"
	if err := kubetest.EnsureNamespace(ctx, env.admin, ns); err != nil {
		t.Fatal(err)
	}
	cers := env.admin.Resource(crd.CeremonyGVR).Namespace(ns)
	deadline := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	spec := func() map[string]any {
		return map[string]any{
			"kind":      "release",
			"artifact":  map[string]any{"name": "guildhall-web", "digest": digest},
			"initiator": "dora@guildhouse.dev",
			"witnesses": []any{
				map[string]any{"id": "alice@guildhouse.dev", "role": "maintainer"},
				map[string]any{"id": "bob@guildhouse.dev", "role": "maintainer"},
				map[string]any{"id": "carol@guildhouse.dev", "role": "security"},
			},
			"quorum":   map[string]any{"threshold": int64(2)},
			"deadline": deadline,
		}
	}
	create := func(name string, s map[string]any) *unstructured.Unstructured {
		t.Helper()
		u := &unstructured.Unstructured{Object: map[string]any{"spec": s}}
		u.SetGroupVersionKind(crd.CeremonyGVK)
		u.SetName(name)
		got, err := cers.Create(ctx, u, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	edit := func(name string, f func(map[string]any)) int64 {
		t.Helper()
		u, err := cers.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f(u.Object["spec"].(map[string]any))
		if u, err = cers.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		return u.GetGeneration()
	}
	// view waits until `kubectl get cerat` shows want in the row of name.
	view := func(name string, want map[string]any) map[string]any {
		t.Helper()
		var got map[string]any
		testenv.Eventually(t, time.Minute, fmt.Sprintf("kubectl get cerat %s shows %v", name, want), func() bool {
			tab := env.table(t, ns, "ceremonyattestations")
			for _, r := range tab.Rows {
				if r.Cells[0] == name {
					got = row(t, tab, name)
				}
			}
			for k, v := range want {
				if got == nil || fmt.Sprint(got[k]) != fmt.Sprint(v) {
					return false
				}
			}
			return true
		})
		return got
	}
	sign := func(who string) {
		t.Helper()
		if _, err := env.cc.Sign(ctx, ns+"/rel", contract.SignRequest{IdempotencyKey: "k-" + who, WitnessID: who, Decision: contract.Approve}); err != nil {
			t.Fatalf("sign as %s: %v", who, err)
		}
	}

	// Applied: the at-a-glance view, and the Ceremony's own columns no longer lie.
	applied := time.Now()
	rel := create("rel", spec())
	tab := env.table(t, ns, "ceremonyattestations")
	var cols []string
	for _, c := range tab.ColumnDefinitions {
		cols = append(cols, c.Name)
		if c.Name == "Deadline" && c.Type != "string" {
			t.Errorf("attestation Deadline column of type %s", c.Type)
		}
	}
	if strings.Join(cols, ",") != "Name,State,Gen,Approvals,Needed,Pending,Deadline,Refused,Age,Attention,Waiting For,Why Refused" {
		t.Fatalf("attestation columns %v", cols)
	}
	got := view("rel", map[string]any{"State": "collecting", "Gen": 1, "Approvals": 0, "Needed": 2, "Pending": 3, "Deadline": deadline, "Refused": nil})
	t.Logf("apply to `kubectl get cerat` showing the open ceremony: %s", time.Since(applied).Round(time.Millisecond))
	if w := fmt.Sprint(got["Waiting For"]); !strings.Contains(w, "alice@guildhouse.dev") || !strings.Contains(w, "carol@guildhouse.dev") {
		t.Errorf("Waiting For = %q", w)
	}
	if d := row(t, env.table(t, ns, "ceremonies"), "rel")["Deadline"]; d != deadline {
		t.Errorf("kubectl get ceremonies shows DEADLINE %v, want %s", d, deadline)
	}

	// Signed, amended, a refused amendment (the resource now differs from what
	// the workflow runs, and says so), fixed, quorum, sealed.
	signed := time.Now()
	sign("alice@guildhouse.dev")
	view("rel", map[string]any{"Approvals": 1, "Pending": 2})
	t.Logf("signature to `kubectl get cerat` showing it: %s", time.Since(signed).Round(time.Millisecond))
	edit("rel", func(s map[string]any) {
		s["witnesses"] = append(s["witnesses"].([]any), map[string]any{"id": "erin@guildhouse.dev", "role": "maintainer"})
	})
	view("rel", map[string]any{"Gen": 2, "Approvals": 1, "Pending": 3})
	past := time.Now().Add(-time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	edit("rel", func(s map[string]any) { s["deadline"] = past })
	got = view("rel", map[string]any{"State": "collecting", "Gen": 2, "Refused": 3})
	if why := fmt.Sprint(got["Why Refused"]); !strings.Contains(why, "Generation 3 not sent to Guildhall") || !strings.Contains(why, "in the past") {
		t.Errorf("Why Refused = %q", why)
	}
	att, _ := env.attestation(ns, "rel")
	if r, _, _ := unstructured.NestedString(att.Object, "spec", "refused", "reason"); r != contract.EventSpecRefused {
		t.Errorf("spec.refused.reason = %q (kubectl describe cerat)", r)
	}
	env.restartWatcher(t, 1)
	edit("rel", func(s map[string]any) { s["deadline"] = deadline })
	view("rel", map[string]any{"Gen": 4, "Refused": nil})
	sign("bob@guildhouse.dev")
	view("rel", map[string]any{"State": "quorum_reached", "Approvals": 2})
	setPhase(t, env, ns, "rel", "Sealed")
	view("rel", map[string]any{"State": "sealed"})

	// Edited after it ended: one Warning, and the resource says so.
	edit("rel", func(s map[string]any) { s["description"] = "too late" })
	// Whether the workflow was still finishing (it refuses) or had completed
	// (the watcher refuses) when the edit arrived, it is one SpecIgnored.
	got = view("rel", map[string]any{"State": "sealed", "Gen": 4, "Refused": 5})
	att, _ = env.attestation(ns, "rel")
	if r, _, _ := unstructured.NestedString(att.Object, "spec", "refused", "reason"); r != contract.EventSpecIgnored {
		t.Errorf("spec.refused.reason = %q, Why Refused = %q", r, got["Why Refused"])
	}

	// Refused at creation: never opened, and the view says so.
	create("bad", func() map[string]any { s := spec(); s["deadline"] = past; return s }())
	// It states no tally: the watcher that recorded the refusal counted nothing.
	view("bad", map[string]any{"State": "refused", "Gen": nil, "Approvals": nil, "Pending": nil, "Refused": 1})

	// Deleted while collecting: cancelled for good, one Event, no ERROR logged;
	// re-created under the same name: refused, the id is never reused.
	applied = time.Now()
	gone := create("gone", spec())
	view("gone", map[string]any{"State": "collecting"})
	t.Logf("apply to `kubectl get cerat` showing the open ceremony (warm): %s", time.Since(applied).Round(time.Millisecond))
	if err := cers.Delete(ctx, "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "the deleted Ceremony's workflow is closed", func() bool {
		d, err := env.tc.DescribeWorkflowExecution(ctx, contract.WorkflowID(ns+"/gone"), "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	})
	if st, err := env.cc.Status(ctx, ns+"/gone"); err != nil || st.Status != contract.StatusCancelled {
		t.Fatalf("deleted ceremony: %s, %v", st.Status, err)
	}
	again := create("gone", spec())
	view("gone", map[string]any{"State": "refused", "Approvals": nil, "Refused": 1})

	env.restartWatcher(t, 3)

	// Every outcome once, across the restarts.
	kube := kubernetes.NewForConfigOrDie(env.kube.Config)
	want := map[string]int{
		eventKey(rel, "Normal", contract.EventCeremonyOpened):     1,
		eventKey(rel, "Normal", contract.EventSpecAccepted):       2, // generations 2 and 4
		eventKey(rel, "Warning", contract.EventSpecRefused):       1, // generation 3
		eventKey(rel, "Normal", contract.EventAttested):           2, // quorum reached, sealed
		eventKey(rel, "Warning", contract.EventSpecIgnored):       1, // generation 5
		"bad Warning " + contract.EventSpecRefused:                1,
		eventKey(gone, "Normal", contract.EventCeremonyOpened):    1,
		eventKey(gone, "Normal", contract.EventCeremonyCancelled): 1,
		eventKey(again, "Warning", contract.EventWorkflowIDInUse): 1,
	}
	evs, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Once is counted in Events per outcome: the writer creates each under a
	// fixed name and never bumps an Event's Count, so that field proves nothing.
	gotEv := map[string]int{}
	var lines []string
	for _, e := range evs.Items {
		k := eventKeyOf(e, rel, gone, again)
		gotEv[k]++
		lines = append(lines, fmt.Sprintf("%s: %s", k, e.Message))
	}
	sort.Strings(lines)
	t.Logf("Events in %s:\n  %s", ns, strings.Join(lines, "\n  "))
	for k, n := range want {
		if gotEv[k] != n {
			t.Errorf("%d Events %q, want %d", gotEv[k], k, n)
		}
	}
	if len(evs.Items) != 11 {
		t.Errorf("%d Events, want 11 (one per outcome)", len(evs.Items))
	}
	// `kubectl describe ceremony rel` lists the Ceremony's Events by UID.
	described, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(rel.GetUID())})
	if err != nil || len(described.Items) != 7 {
		t.Errorf("kubectl describe ceremony rel would show %d Events (%v), want 7", len(described.Items), err)
	}

	// Events expire (the API server's --event-ttl, an hour by default); what was
	// announced is remembered elsewhere, so a restart after that announces
	// nothing again either.
	if err := kube.CoreV1().Events(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	env.restartWatcher(t, 3)
	if evs, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{}); err != nil || len(evs.Items) != 0 {
		t.Errorf("after the Events expired, a restarted watcher recorded %d again (%v)", len(evs.Items), err)
	}
	if errs := env.logs.errors(); len(errs) > 0 {
		t.Errorf("ERROR logged on normal paths:\n  %s", strings.Join(errs, "\n  "))
	}
}

// eventKey names an Event by its Ceremony (name, or name#2 for a second
// Ceremony of the same name), type and reason.
func eventKey(cer *unstructured.Unstructured, typ, reason string) string {
	return cer.GetName() + "@" + string(cer.GetUID())[:8] + " " + typ + " " + reason
}

func eventKeyOf(e corev1.Event, cers ...*unstructured.Unstructured) string {
	for _, c := range cers {
		if c.GetUID() == e.InvolvedObject.UID {
			return eventKey(c, e.Type, e.Reason)
		}
	}
	return e.InvolvedObject.Name + " " + e.Type + " " + e.Reason
}

// setPhase writes the Ceremony's status as the substrate does.
func setPhase(t *testing.T, env *cluster, ns, name, phase string) {
	t.Helper()
	ctx := context.Background()
	cers := env.admin.Resource(crd.CeremonyGVR).Namespace(ns)
	u, err := cers.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(u.Object, phase, "status", "phase")
	_ = unstructured.SetNestedField(u.Object, u.GetGeneration(), "status", "observedGeneration")
	if _, err := cers.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
