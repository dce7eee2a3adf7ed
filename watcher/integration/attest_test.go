package integration_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/watcher/attest"
	"github.com/guildhouse/guildhall/watcher/crd"
)

// newWriter is the attestation writer under the watcher's ServiceAccount.
func newWriter(t testing.TB) *attest.Writer {
	t.Helper()
	return &attest.Writer{Dynamic: dynamic.NewForConfigOrDie(saCfg), Events: kubernetes.NewForConfigOrDie(saCfg).CoreV1(), Now: time.Now}
}

func signatures() []contract.Signature {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	return []contract.Signature{
		{WitnessID: "alice@guildhouse.dev", Roles: []string{"maintainer"}, Decision: contract.Approve, SignedAt: at, IdempotencyKey: "k1", Via: "web",
			Proof: &contract.Proof{Type: "ed25519", KeyID: "alice-1", Signature: "c2ln"}},
		{WitnessID: "carol@guildhouse.dev", Roles: []string{"security"}, Decision: contract.Approve, SignedAt: at.Add(time.Minute), IdempotencyKey: "k2", Comment: "ok"},
	}
}

// TestAttestationWriteBack: under the watcher's ServiceAccount, the writer creates
// the attestation owned by the Ceremony, updates it for the same generation,
// refuses an older generation, and records Events on the Ceremony.
func TestAttestationWriteBack(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	cer, _ := createCeremony(t, ns, "rel", validSpec())
	w := newWriter(t)
	id := crd.CeremonyID(ns, "rel")
	in := attest.Input{CeremonyID: id, Generation: 1, Outcome: contract.StatusQuorumReached,
		Artifact: contract.Artifact{Name: "guildhall-web", Digest: digest}, Signatures: signatures(), Approvals: 2,
		ChainHead: "9f2c6a0e4b1d7c3a5e8f0b2d4c6a8e0f1b3d5c7a9e1f3b5d7c9a1e3f5b7d9c1a", ChainLength: 5}
	res, err := w.Write(ctx, in)
	if err != nil || !res.Created {
		t.Fatalf("first write: %+v, %v", res, err)
	}
	got, err := admin().Resource(crd.AttestationGVR).Namespace(ns).Get(ctx, "rel", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	owners := got.GetOwnerReferences()
	if len(owners) != 1 || owners[0].UID != cer.GetUID() || owners[0].Kind != "Ceremony" || owners[0].Controller == nil || !*owners[0].Controller {
		t.Fatalf("owner references = %+v", owners)
	}
	sigs, _, _ := unstructured.NestedSlice(got.Object, "spec", "signatures")
	outcome, _, _ := unstructured.NestedString(got.Object, "spec", "outcome")
	head, _, _ := unstructured.NestedString(got.Object, "spec", "custody", "head")
	if len(sigs) != 2 || outcome != "quorum_reached" || head != in.ChainHead {
		t.Fatalf("attestation spec = %v", got.Object["spec"])
	}
	waitEvent(t, ns, "rel", contract.EventAttested)

	in.Outcome = contract.StatusSealed
	res, err = w.Write(ctx, in)
	if err != nil || res.Created {
		t.Fatalf("second write: %+v, %v", res, err)
	}
	if _, err := w.Write(ctx, attest.Input{CeremonyID: id, Generation: 0, Outcome: contract.StatusSealed}); err != nil {
		t.Fatalf("generation 0 means current: %v", err)
	}
	editSpec(t, ns, "rel", func(s map[string]any) { s["description"] = "gen 2" })
	in.Generation = 2
	if _, err := w.Write(ctx, in); err != nil {
		t.Fatal(err)
	}
	in.Generation = 1
	if _, err := w.Write(ctx, in); !errors.Is(err, attest.ErrStale) {
		t.Fatalf("older generation: err = %v, want ErrStale", err)
	}
	if _, err := w.Write(ctx, attest.Input{CeremonyID: crd.CeremonyID(ns, "missing"), Outcome: contract.StatusSealed}); !errors.Is(err, attest.ErrCeremonyGone) {
		t.Fatalf("missing ceremony: err = %v, want ErrCeremonyGone", err)
	}
	if _, err := w.Write(ctx, attest.Input{CeremonyID: id, Outcome: contract.StatusCollecting}); !errors.Is(err, attest.ErrInvalid) {
		t.Fatalf("open outcome: err = %v, want ErrInvalid", err)
	}
}

// TestAttestationActivities: a workflow schedules the write-back by name on the
// guildhall-cluster task queue, as the Ceremony workflow does; the activity runs
// under the watcher's ServiceAccount and writes the attestation and its Events,
// which the API server's schema accepts, live view included.
func TestAttestationActivities(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	cer, _ := createCeremony(t, ns, "ratify", validSpec())
	acts := &attest.Activities{W: newWriter(t)}
	w := worker.New(tc, attest.TaskQueue, worker.Options{})
	acts.Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	id := crd.CeremonyID(ns, "ratify")
	probe := func(in attest.Input) (attest.Result, error) {
		t.Helper()
		run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: contract.TaskQueue, WorkflowExecutionTimeout: time.Minute},
			attestProbeName, in)
		if err != nil {
			t.Fatal(err)
		}
		var res attest.Result
		err = run.Get(ctx, &res)
		return res, err
	}
	live := attest.Input{CeremonyID: id, Generation: 1, Outcome: contract.StatusCollecting, Live: true, ResourceUID: string(cer.GetUID()),
		Needed: 2, Pending: []string{"alice@guildhouse.dev", "bob@guildhouse.dev", "carol@guildhouse.dev"},
		Deadline: time.Now().Add(time.Hour), Signatures: []contract.Signature{},
		Events: []contract.ResourceEvent{{Key: "opened", Reason: contract.EventCeremonyOpened, Message: "opened with 3 witnesses"}}}
	if res, err := probe(live); err != nil || !res.Created || res.Name != "ratify" {
		t.Fatalf("live write: %+v, %v", res, err)
	}
	waitEvent(t, ns, "ratify", contract.EventCeremonyOpened)
	in := attest.Input{CeremonyID: id, Outcome: contract.StatusRejected, Reason: "vetoed by carol@guildhouse.dev",
		Signatures: signatures()[1:], Rejections: 1, ChainHead: "abc123", ChainLength: 3}
	if _, err := probe(in); err != nil {
		t.Fatal(err)
	}
	got, err := admin().Resource(crd.AttestationGVR).Namespace(ns).Get(ctx, "ratify", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if o, _, _ := unstructured.NestedString(got.Object, "spec", "outcome"); o != "rejected" {
		t.Fatalf("outcome %q", o)
	}
	if e := waitEvent(t, ns, "ratify", contract.EventAttestedNoGo); e.Type != "Warning" {
		t.Errorf("event type %s", e.Type)
	}

	// A live write for a Ceremony that is gone is done, not failed (deleting a
	// Ceremony is how one is cancelled); a result for one is a non-retryable
	// failure, not an endless retry.
	live.CeremonyID = crd.CeremonyID(ns, "gone")
	if res, err := probe(live); err != nil || !res.Gone {
		t.Fatalf("live write for a missing Ceremony: %+v, %v", res, err)
	}
	in.CeremonyID = crd.CeremonyID(ns, "gone")
	began := time.Now()
	if _, err := probe(in); err == nil || time.Since(began) > 20*time.Second {
		t.Fatalf("result for a missing Ceremony: err %v after %s", err, time.Since(began))
	}
}
