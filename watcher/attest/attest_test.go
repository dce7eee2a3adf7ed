package attest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/tools/record"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/watcher/crd"
)

const digest = "sha256:4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7"

func setup(t *testing.T) (*Writer, *record.FakeRecorder, *dynamicfake.FakeDynamicClient) {
	t.Helper()
	cer := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
	cer.SetGroupVersionKind(crd.CeremonyGVK)
	cer.SetNamespace("ns")
	cer.SetName("rel")
	cer.SetUID(types.UID("uid-1"))
	cer.SetGeneration(3)
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		crd.CeremonyGVR: "CeremonyList", crd.AttestationGVR: "CeremonyAttestationList"}, cer)
	rec := record.NewFakeRecorder(10)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	return &Writer{Dynamic: dyn, Recorder: rec, Now: func() time.Time { return now }}, rec, dyn
}

func TestWrite(t *testing.T) {
	w, rec, dyn := setup(t)
	ctx := context.Background()
	st := contract.State{
		Spec:   contract.Spec{ID: "ns/rel", Generation: 3, Artifact: contract.Artifact{Name: "web", Digest: digest}},
		Status: contract.StatusQuorumReached, Approvals: 1,
		Signatures: []contract.Signature{{WitnessID: "alice", Decision: contract.Approve, SignedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), IdempotencyKey: "k"}},
	}
	res, err := w.Write(ctx, FromState(st, "headhash", 4))
	if err != nil || !res.Created || res.Namespace != "ns" || res.Name != "rel" {
		t.Fatalf("create: %+v %v", res, err)
	}
	got, err := dyn.Resource(crd.AttestationGVR).Namespace("ns").Get(ctx, "rel", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if o := got.GetOwnerReferences(); len(o) != 1 || o[0].UID != "uid-1" || o[0].Kind != "Ceremony" || o[0].APIVersion != "substrate.guildhouse.dev/v1alpha1" {
		t.Fatalf("owner = %+v", o)
	}
	spec := got.Object["spec"].(map[string]any)
	if spec["outcome"] != "quorum_reached" || spec["ceremonyGeneration"] != int64(3) || spec["attestedAt"] != "2030-01-01T00:00:00Z" ||
		spec["custody"].(map[string]any)["head"] != "headhash" || len(spec["signatures"].([]any)) != 1 {
		t.Fatalf("spec = %v", spec)
	}
	if _, leaked := spec["signatures"].([]any)[0].(map[string]any)["idempotencyKey"]; leaked {
		t.Error("idempotency keys are workflow internals; the attestation must not carry them")
	}
	if e := <-rec.Events; !strings.HasPrefix(e, "Normal Attested CeremonyAttestation rel created for generation 3: quorum_reached") {
		t.Errorf("event %q", e)
	}

	st.Status, st.Reason = contract.StatusExpired, "deadline passed"
	if res, err := w.Write(ctx, FromState(st, "h2", 5)); err != nil || res.Created {
		t.Fatalf("update: %+v %v", res, err)
	}
	if e := <-rec.Events; !strings.HasPrefix(e, "Warning AttestedNoQuorum CeremonyAttestation rel updated") || !strings.Contains(e, "deadline passed") {
		t.Errorf("event %q", e)
	}
	st.Spec.Generation = 2
	if _, err := w.Write(ctx, FromState(st, "h", 1)); !errors.Is(err, ErrStale) {
		t.Fatalf("stale: %v", err)
	}
	for _, in := range []Input{
		{CeremonyID: "ns/other", Outcome: contract.StatusSealed},
		{CeremonyID: "no-namespace", Outcome: contract.StatusSealed},
		{CeremonyID: "ns/rel", Outcome: contract.StatusCollecting},
	} {
		if _, err := w.Write(ctx, in); !errors.Is(err, ErrCeremonyGone) && !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: err %v", in, err)
		}
	}
}

func TestRecordSpec(t *testing.T) {
	w, rec, _ := setup(t)
	if err := w.RecordSpec(context.Background(), "ns/rel", 3, false, "threshold above witnesses"); err != nil {
		t.Fatal(err)
	}
	if e := <-rec.Events; e != "Warning SpecRefused Generation 3 refused: threshold above witnesses" {
		t.Errorf("event %q", e)
	}
	if err := w.RecordSpec(context.Background(), "ns/gone", 1, true, ""); !errors.Is(err, ErrCeremonyGone) {
		t.Errorf("missing ceremony: %v", err)
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
