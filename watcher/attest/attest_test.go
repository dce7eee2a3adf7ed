package attest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/watcher/crd"
)

const digest = "sha256:4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7"

func ceremony(uid string, gen int64) *unstructured.Unstructured {
	cer := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
	cer.SetGroupVersionKind(crd.CeremonyGVK)
	cer.SetNamespace("ns")
	cer.SetName("rel")
	cer.SetUID(types.UID(uid))
	cer.SetGeneration(gen)
	return cer
}

func setup(t *testing.T) (*Writer, *kubefake.Clientset, *dynamicfake.FakeDynamicClient) {
	t.Helper()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		crd.CeremonyGVR: "CeremonyList", crd.AttestationGVR: "CeremonyAttestationList"}, ceremony("uid-1", 3))
	kube := kubefake.NewClientset()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	return &Writer{Dynamic: dyn, Events: kube.CoreV1(), Now: func() time.Time { return now }}, kube, dyn
}

// events lists the Events in ns as "Type Reason Message".
func events(t *testing.T, kube *kubefake.Clientset) []string {
	t.Helper()
	list, err := kube.CoreV1().Events("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Type+" "+e.Reason+" "+e.Message)
	}
	return out
}

func attestation(t *testing.T, dyn *dynamicfake.FakeDynamicClient) map[string]any {
	t.Helper()
	got, err := dyn.Resource(crd.AttestationGVR).Namespace("ns").Get(context.Background(), "rel", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got.Object["spec"].(map[string]any)
}

func result(gen int64, status contract.Status) Input {
	return Input{CeremonyID: "ns/rel", Generation: gen, Outcome: status, Approvals: 1,
		Artifact:   contract.Artifact{Name: "web", Digest: digest},
		Signatures: []contract.Signature{{WitnessID: "alice", Decision: contract.Approve, SignedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), IdempotencyKey: "k"}},
		ChainHead:  "headhash", ChainLength: 4}
}

// TestWriteResult: a result written without Live (ceremonies opened before the
// live view) creates and updates the attestation with one Event per result.
func TestWriteResult(t *testing.T) {
	w, kube, dyn := setup(t)
	ctx := context.Background()
	res, err := w.Write(ctx, result(3, contract.StatusQuorumReached))
	if err != nil || !res.Created || res.Namespace != "ns" || res.Name != "rel" {
		t.Fatalf("create: %+v %v", res, err)
	}
	got, _ := dyn.Resource(crd.AttestationGVR).Namespace("ns").Get(ctx, "rel", metav1.GetOptions{})
	if o := got.GetOwnerReferences(); len(o) != 1 || o[0].UID != "uid-1" || o[0].Kind != "Ceremony" || o[0].APIVersion != "substrate.guildhouse.dev/v1alpha1" {
		t.Fatalf("owner = %+v", o)
	}
	spec := attestation(t, dyn)
	if spec["outcome"] != "quorum_reached" || spec["state"] != "quorum_reached" || spec["ceremonyGeneration"] != int64(3) ||
		spec["attestedAt"] != "2030-01-01T00:00:00Z" || spec["custody"].(map[string]any)["head"] != "headhash" || len(spec["signatures"].([]any)) != 1 {
		t.Fatalf("spec = %v", spec)
	}
	if _, leaked := spec["signatures"].([]any)[0].(map[string]any)["idempotencyKey"]; leaked {
		t.Error("idempotency keys are workflow internals; the attestation must not carry them")
	}
	// A retry of the same write is the same Event.
	if _, err := w.Write(ctx, result(3, contract.StatusQuorumReached)); err != nil {
		t.Fatal(err)
	}
	in := result(3, contract.StatusExpired)
	in.Reason = "deadline passed"
	if res, err := w.Write(ctx, in); err != nil || res.Created {
		t.Fatalf("update: %+v %v", res, err)
	}
	evs := events(t, kube)
	if len(evs) != 2 || !strings.Contains(strings.Join(evs, "\n"), "Normal Attested CeremonyAttestation rel created for generation 3: quorum_reached") ||
		!strings.Contains(strings.Join(evs, "\n"), "Warning AttestedNoQuorum CeremonyAttestation rel updated for generation 3: expired") {
		t.Errorf("events %q", evs)
	}
	if _, err := w.Write(ctx, result(2, contract.StatusSealed)); !errors.Is(err, ErrStale) {
		t.Fatalf("stale: %v", err)
	}
	for _, in := range []Input{
		{CeremonyID: "ns/other", Outcome: contract.StatusSealed},
		{CeremonyID: "no-namespace", Outcome: contract.StatusSealed},
		{CeremonyID: "ns/rel", Outcome: contract.StatusCollecting},
		{CeremonyID: "ns/rel", Outcome: "open", Live: true},
	} {
		if _, err := w.Write(ctx, in); !errors.Is(err, ErrCeremonyGone) && !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: err %v", in, err)
		}
	}
}

// TestWriteLive: the workflow's live writes keep the view current, record each
// Event once, and leave a Ceremony that is gone alone without an error.
func TestWriteLive(t *testing.T) {
	w, kube, dyn := setup(t)
	ctx := context.Background()
	deadline := time.Date(2030, 2, 1, 12, 0, 0, 0, time.UTC)
	in := Input{CeremonyID: "ns/rel", Generation: 3, Outcome: contract.StatusCollecting, Live: true, ResourceUID: "uid-1",
		Needed: 2, Pending: []string{"alice", "bob"}, Deadline: deadline, Signatures: []contract.Signature{},
		Events: []contract.ResourceEvent{{Key: "opened", Reason: contract.EventCeremonyOpened, Message: "opened"}}}
	for range 2 {
		if _, err := w.Write(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	spec := attestation(t, dyn)
	if spec["state"] != "collecting" || spec["outcome"] != nil || spec["needed"] != int64(2) || spec["pendingCount"] != int64(2) ||
		spec["deadline"] != "2030-02-01T12:00:00Z" || spec["custody"] != nil {
		t.Fatalf("live spec = %v", spec)
	}
	if evs := events(t, kube); len(evs) != 1 || evs[0] != "Normal CeremonyOpened opened" {
		t.Fatalf("events after a repeated write: %q", evs)
	}

	in.ResourceUID = "uid-other"
	if res, err := w.Write(ctx, in); err != nil || !res.Gone {
		t.Fatalf("a Ceremony of the same name with another UID: %+v %v", res, err)
	}
	in.ResourceUID, in.CeremonyID = "uid-1", "ns/deleted"
	if res, err := w.Write(ctx, in); err != nil || !res.Gone {
		t.Fatalf("a deleted Ceremony: %+v %v", res, err)
	}
}

// TestRefuse: the watcher's refusal is one Event and spec.refused; asking again
// (a restart) announces nothing; the workflow's next write keeps a refusal of a
// newer generation and drops one it has overtaken.
func TestRefuse(t *testing.T) {
	w, kube, dyn := setup(t)
	ctx := context.Background()
	cer := ceremony("uid-1", 3)
	r := Refusal{Generation: 3, Reason: contract.EventSpecRefused, Message: "deadline is in the past"}
	if ok, err := w.Refuse(ctx, cer, r, false); err != nil || !ok {
		t.Fatalf("first refusal: %v %v", ok, err)
	}
	spec := attestation(t, dyn)
	if spec["state"] != "refused" || spec["refused"].(map[string]any)["generation"] != int64(3) || spec["ceremonyGeneration"] != nil {
		t.Fatalf("refused spec = %v", spec)
	}
	for _, unasked := range []string{"approvals", "rejections", "signatures"} {
		if v, ok := spec[unasked]; ok {
			t.Errorf("the watcher's attestation states %s %v, which it never asked the workflow", unasked, v)
		}
	}
	if ok, err := w.Refuse(ctx, cer, r, false); err != nil || ok {
		t.Fatalf("second refusal announced again: %v %v", ok, err)
	}
	if evs := events(t, kube); len(evs) != 1 || evs[0] != "Warning SpecRefused deadline is in the past" {
		t.Fatalf("events %q", evs)
	}

	live := Input{CeremonyID: "ns/rel", Generation: 2, Outcome: contract.StatusCollecting, Live: true, Needed: 1, Signatures: []contract.Signature{}}
	if _, err := w.Write(ctx, live); err != nil {
		t.Fatal(err)
	}
	if spec := attestation(t, dyn); spec["refused"] == nil || spec["state"] != "collecting" {
		t.Fatalf("a refusal of generation 3 lost by a write of generation 2: %v", spec)
	} else if sigs, ok := spec["signatures"].([]any); !ok || len(sigs) != 0 || spec["approvals"] != int64(0) || spec["rejections"] != int64(0) {
		t.Fatalf("the workflow's write states no tally: %v", spec)
	}
	live.Generation = 4
	if _, err := w.Write(ctx, live); err != nil {
		t.Fatal(err)
	}
	if spec := attestation(t, dyn); spec["refused"] != nil {
		t.Fatalf("a refusal of generation 3 kept after generation 4 runs: %v", spec)
	}

	// A new Ceremony of the same name takes the attestation over.
	other := ceremony("uid-2", 1)
	if ok, err := w.Refuse(ctx, other, Refusal{Generation: 1, Reason: contract.EventWorkflowIDInUse, Message: "in use"}, false); err != nil || !ok {
		t.Fatalf("refusal for a new UID: %v %v", ok, err)
	}
	got, _ := dyn.Resource(crd.AttestationGVR).Namespace("ns").Get(ctx, "rel", metav1.GetOptions{})
	if spec := got.Object["spec"].(map[string]any); spec["state"] != "refused" || spec["ceremonyRef"].(map[string]any)["uid"] != "uid-2" ||
		got.GetOwnerReferences()[0].UID != "uid-2" {
		t.Fatalf("attestation after a namesake's refusal: %v", got.Object)
	}
}

func TestAnnounceOnce(t *testing.T) {
	w, kube, _ := setup(t)
	ref := CeremonyRef("ns", "rel", "uid-9")
	ev := contract.ResourceEvent{Key: "cancel", Reason: contract.EventCeremonyCancelled, Message: strings.Repeat("x", 5000)}
	for range 3 {
		if err := w.Announce(context.Background(), ref, ev); err != nil {
			t.Fatal(err)
		}
	}
	list, _ := kube.CoreV1().Events("ns").List(context.Background(), metav1.ListOptions{})
	if len(list.Items) != 1 {
		t.Fatalf("%d Events, want 1", len(list.Items))
	}
	e := list.Items[0]
	if e.InvolvedObject.UID != "uid-9" || e.Type != corev1.EventTypeNormal || len(e.Message) > maxMessage+4 || e.Count != 1 {
		t.Fatalf("event %+v", e)
	}
	if EventName(ref, "cancel") == EventName(CeremonyRef("ns", "rel", "uid-8"), "cancel") {
		t.Error("two Ceremonies of the same name share an Event name")
	}
	long := CeremonyRef("ns", strings.Repeat("n", 253), "u")
	if n := EventName(long, "k"); len(n) > 253 {
		t.Errorf("Event name of %d characters", len(n))
	}
}

func TestClassify(t *testing.T) {
	for _, err := range []error{ErrCeremonyGone, ErrStale, ErrInvalid} {
		if c := classify(err); c == nil || !strings.Contains(c.Error(), err.Error()) {
			t.Errorf("classify(%v) = %v", err, c)
		}
	}
	if classify(nil) != nil {
		t.Error("classify(nil) != nil")
	}
}

// TestRefuseReadsTheAttestationOnce: a refusal reads the attestation once, and
// again only when its write lost a race (a conflict).
func TestRefuseReadsTheAttestationOnce(t *testing.T) {
	w, _, dyn := setup(t)
	ctx := context.Background()
	cer := ceremony("uid-1", 3)
	gets := func() int {
		n := 0
		for _, a := range dyn.Actions() {
			if a.GetVerb() == "get" && a.GetResource() == crd.AttestationGVR {
				n++
			}
		}
		return n
	}
	if _, err := w.Refuse(ctx, cer, Refusal{Generation: 3, Reason: contract.EventSpecRefused, Message: "a"}, false); err != nil {
		t.Fatal(err)
	}
	if n := gets(); n != 1 {
		t.Fatalf("a refusal creating the attestation read it %d times, want 1", n)
	}
	conflicts := 1
	dyn.PrependReactor("update", "ceremonyattestations", func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(crd.AttestationGVR.GroupResource(), "rel", errors.New("changed meanwhile"))
		}
		return false, nil, nil
	})
	dyn.ClearActions()
	if ok, err := w.Refuse(ctx, ceremony("uid-1", 4), Refusal{Generation: 4, Reason: contract.EventSpecRefused, Message: "b"}, false); err != nil || !ok {
		t.Fatalf("refusal after a conflict: %v %v", ok, err)
	}
	if n := gets(); n != 2 {
		t.Fatalf("a refusal whose first update conflicted read the attestation %d times, want 2", n)
	}
	if r := attestation(t, dyn)["refused"].(map[string]any); r["generation"] != int64(4) {
		t.Fatalf("refused = %v", r)
	}
}
