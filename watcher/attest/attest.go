// Package attest hands Guildhall's result back to the cluster: it creates or
// updates the CeremonyAttestation of a Ceremony (owned by it, so it goes when the
// Ceremony goes) and records Events on the Ceremony. Activities call it; its input
// is a plain struct built from contract types, so no workflow code needs client-go.
//
// Only ceremonies opened from the cluster (contract.Spec.Source == "cluster") have
// a Ceremony resource to attest to; for others Write returns ErrCeremonyGone.
package attest

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/watcher/crd"
)

// Errors a caller should not retry (wrap them as non-retryable in an activity).
var (
	// ErrCeremonyGone: the Ceremony resource does not exist (deleted, or the
	// ceremony was never opened from the cluster).
	ErrCeremonyGone = errors.New("ceremony resource not found")
	// ErrStale: the existing attestation is for a newer generation than the input.
	ErrStale = errors.New("attestation for a newer generation exists")
	// ErrInvalid: the input cannot be attested (an open status, a bad id).
	ErrInvalid = errors.New("invalid attestation input")
)

// Input is the result of one ceremony generation; the workflow sends it as
// contract.Attestation.
type Input = contract.Attestation

// FromState builds an Input from the workflow's state and its custody chain head.
func FromState(st contract.State, chainHead string, chainLength int64) Input {
	return Input{
		CeremonyID: st.Spec.ID, Generation: st.Spec.Generation, Outcome: st.Status, Reason: st.Reason,
		Artifact: st.Spec.Artifact, Signatures: st.Signatures, Approvals: st.Approvals, Rejections: st.Rejections,
		ChainHead: chainHead, ChainLength: chainLength,
	}
}

// Result says what Write did.
type Result = contract.AttestationResult

// Writer writes attestations and Events. Its RBAC needs are in Rules.
type Writer struct {
	Dynamic  dynamic.Interface
	Recorder record.EventRecorder
	Now      func() time.Time
}

// Component is the Event source of the attestation writer.
const Component = "guildhall-attest"

// NewWriter builds a Writer from a rest config; call the returned function on
// shutdown to flush pending Events.
func NewWriter(cfg *rest.Config) (*Writer, func(), error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("dynamic client: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client: %w", err)
	}
	rec, stop := crd.NewEventRecorder(kube, Component)
	return &Writer{Dynamic: dyn, Recorder: rec, Now: time.Now}, stop, nil
}

// Write creates the Ceremony's attestation or updates it, and records an Event on
// the Ceremony. Calling it again with the same input changes nothing but the
// Event count, so activity retries are safe.
func (w *Writer) Write(ctx context.Context, in Input) (Result, error) {
	if !in.Outcome.Final() && in.Outcome != contract.StatusQuorumReached {
		return Result{}, fmt.Errorf("%w: outcome %q is not a result", ErrInvalid, in.Outcome)
	}
	cer, err := w.ceremony(ctx, in.CeremonyID)
	if err != nil {
		return Result{}, err
	}
	if in.Generation == 0 {
		in.Generation = cer.GetGeneration()
	}
	if in.AttestedAt.IsZero() {
		in.AttestedAt = w.now()
	}
	var res Result
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var err error
		res, err = w.upsert(ctx, cer, in)
		return err
	})
	if err != nil {
		return res, err
	}
	w.recordOutcome(cer, in, res)
	return res, nil
}

func (w *Writer) now() time.Time {
	if w.Now == nil {
		return time.Now()
	}
	return w.Now()
}

func (w *Writer) ceremony(ctx context.Context, ceremonyID string) (*unstructured.Unstructured, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(ceremonyID)
	if err != nil || ns == "" || name == "" {
		return nil, fmt.Errorf("%w: ceremony id %q is not <namespace>/<name>", ErrInvalid, ceremonyID)
	}
	cer, err := w.Dynamic.Resource(crd.CeremonyGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w: %s", ErrCeremonyGone, ceremonyID)
	}
	if err != nil {
		return nil, fmt.Errorf("get ceremony %s: %w", ceremonyID, err)
	}
	return cer, nil
}

func (w *Writer) upsert(ctx context.Context, cer *unstructured.Unstructured, in Input) (Result, error) {
	client := w.Dynamic.Resource(crd.AttestationGVR).Namespace(cer.GetNamespace())
	res := Result{Namespace: cer.GetNamespace(), Name: cer.GetName()}
	desired, err := build(cer, in)
	if err != nil {
		return res, err
	}
	cur, err := client.Get(ctx, cer.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		got, err := client.Create(ctx, desired, metav1.CreateOptions{FieldManager: "guildhall"})
		if err != nil {
			return res, fmt.Errorf("create attestation %s/%s: %w", res.Namespace, res.Name, err)
		}
		res.Created, res.ResourceVersion = true, got.GetResourceVersion()
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("get attestation %s/%s: %w", res.Namespace, res.Name, err)
	}
	if g, _, _ := unstructured.NestedInt64(cur.Object, "spec", "ceremonyGeneration"); g > in.Generation {
		return res, fmt.Errorf("%w: %s/%s holds generation %d, input is %d", ErrStale, res.Namespace, res.Name, g, in.Generation)
	}
	cur.Object["spec"] = desired.Object["spec"]
	cur.SetOwnerReferences(desired.GetOwnerReferences())
	cur.SetLabels(mergeLabels(cur.GetLabels(), desired.GetLabels()))
	got, err := client.Update(ctx, cur, metav1.UpdateOptions{FieldManager: "guildhall"})
	if err != nil {
		return res, fmt.Errorf("update attestation %s/%s: %w", res.Namespace, res.Name, err)
	}
	res.ResourceVersion = got.GetResourceVersion()
	return res, nil
}

func mergeLabels(cur, add map[string]string) map[string]string {
	if cur == nil {
		cur = map[string]string{}
	}
	for k, v := range add {
		cur[k] = v
	}
	return cur
}

func (w *Writer) recordOutcome(cer *unstructured.Unstructured, in Input, res Result) {
	verb := "updated"
	if res.Created {
		verb = "created"
	}
	msg := fmt.Sprintf("CeremonyAttestation %s %s for generation %d: %s, %d approvals, %d rejections, custody head %s",
		res.Name, verb, in.Generation, in.Outcome, in.Approvals, in.Rejections, short(in.ChainHead))
	if in.Reason != "" {
		msg += " (" + in.Reason + ")"
	}
	if in.Outcome == contract.StatusQuorumReached || in.Outcome == contract.StatusSealed {
		w.Recorder.Event(cer, corev1.EventTypeNormal, crd.ReasonAttested, msg)
		return
	}
	w.Recorder.Event(cer, corev1.EventTypeWarning, crd.ReasonAttestedNoGo, msg)
}

// RecordSpec records on the Ceremony whether the workflow accepted a generation of
// its spec (Normal SpecAccepted) or refused it (Warning SpecRefused), with why.
func (w *Writer) RecordSpec(ctx context.Context, ceremonyID string, generation int64, accepted bool, message string) error {
	cer, err := w.ceremony(ctx, ceremonyID)
	if err != nil {
		return err
	}
	if accepted {
		w.Recorder.Eventf(cer, corev1.EventTypeNormal, crd.ReasonSpecAccepted, "Generation %d accepted: %s", generation, message)
	} else {
		w.Recorder.Eventf(cer, corev1.EventTypeWarning, crd.ReasonSpecRefused, "Generation %d refused: %s", generation, message)
	}
	return nil
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	if h == "" {
		return "(none)"
	}
	return h
}

// spec mirrors the CeremonyAttestation spec in deploy/crds.
type spec struct {
	CeremonyRef        ref         `json:"ceremonyRef"`
	CeremonyID         string      `json:"ceremonyId"`
	CeremonyGeneration int64       `json:"ceremonyGeneration"`
	Artifact           *artifact   `json:"artifact,omitempty"`
	Outcome            string      `json:"outcome"`
	Reason             string      `json:"reason,omitempty"`
	Approvals          int         `json:"approvals"`
	Rejections         int         `json:"rejections"`
	Signatures         []signature `json:"signatures"`
	Custody            custody     `json:"custody"`
	AttestedAt         string      `json:"attestedAt"`
}

type ref struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

type artifact struct {
	Name   string `json:"name,omitempty"`
	Digest string `json:"digest,omitempty"`
	URI    string `json:"uri,omitempty"`
}

type signature struct {
	WitnessID string            `json:"witnessId"`
	Roles     []string          `json:"roles,omitempty"`
	Decision  contract.Decision `json:"decision"`
	Comment   string            `json:"comment,omitempty"`
	SignedAt  string            `json:"signedAt"`
	Statement string            `json:"statement,omitempty"`
	Proof     *contract.Proof   `json:"proof,omitempty"`
	Via       string            `json:"via,omitempty"`
}

type custody struct {
	Head   string `json:"head,omitempty"`
	Length int64  `json:"length"`
}

// build returns the attestation as it should be.
func build(cer *unstructured.Unstructured, in Input) (*unstructured.Unstructured, error) {
	s := spec{
		CeremonyRef: ref{Name: cer.GetName(), UID: string(cer.GetUID())},
		CeremonyID:  in.CeremonyID, CeremonyGeneration: in.Generation,
		Outcome: string(in.Outcome), Reason: in.Reason, Approvals: in.Approvals, Rejections: in.Rejections,
		Signatures: make([]signature, 0, len(in.Signatures)),
		Custody:    custody{Head: in.ChainHead, Length: in.ChainLength},
		AttestedAt: in.AttestedAt.UTC().Format(time.RFC3339),
	}
	if in.Artifact.Digest != "" {
		s.Artifact = &artifact{Name: in.Artifact.Name, Digest: in.Artifact.Digest, URI: in.Artifact.URI}
	}
	for _, sig := range in.Signatures {
		s.Signatures = append(s.Signatures, signature{WitnessID: sig.WitnessID, Roles: sig.Roles, Decision: sig.Decision,
			Comment: sig.Comment, SignedAt: sig.SignedAt.UTC().Format(time.RFC3339), Statement: sig.Statement,
			Proof: sig.Proof, Via: sig.Via})
	}
	specMap, err := toMap(&s)
	if err != nil {
		return nil, err
	}
	obj := &unstructured.Unstructured{Object: map[string]any{"spec": specMap}}
	obj.SetGroupVersionKind(crd.AttestationGVK)
	obj.SetNamespace(cer.GetNamespace())
	obj.SetName(cer.GetName())
	obj.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "guildhall", crd.Group + "/ceremony": cer.GetName()})
	controller := true
	obj.SetOwnerReferences([]metav1.OwnerReference{{
		APIVersion: crd.CeremonyGVK.GroupVersion().String(), Kind: crd.CeremonyGVK.Kind,
		Name: cer.GetName(), UID: cer.GetUID(), Controller: &controller,
	}})
	return obj, nil
}

// toMap converts with apimachinery's converter so integers stay int64, as they
// are in objects read from the API server.
func toMap(v any) (map[string]any, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(v)
	if err != nil {
		return nil, fmt.Errorf("convert attestation spec: %w", err)
	}
	return m, nil
}
