// Package attest hands Guildhall's view of a ceremony back to the cluster: it
// creates or updates the CeremonyAttestation of a Ceremony (owned by it, so it
// goes when the Ceremony goes) and records Events on the Ceremony, one per
// outcome. Activities call it for the workflow, and the watcher for what it
// refuses; its input is a plain struct built from contract types, so no workflow
// code needs client-go.
//
// Only ceremonies opened from the cluster (contract.Spec.Source == "cluster") have
// a Ceremony resource to attest to.
package attest

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/watcher/crd"
)

// Errors a caller should not retry (wrap them as non-retryable in an activity).
var (
	// ErrCeremonyGone: the Ceremony resource does not exist (deleted, or the
	// ceremony was never opened from the cluster). Only results written without
	// Live get it; a live write answers Result.Gone instead.
	ErrCeremonyGone = errors.New("ceremony resource not found")
	// ErrStale: the existing attestation is for a newer generation than the input.
	ErrStale = errors.New("attestation for a newer generation exists")
	// ErrInvalid: the input cannot be attested (an unknown status, a bad id).
	ErrInvalid = errors.New("invalid attestation input")
)

// Input is what the workflow sends (see contract.Attestation).
type Input = contract.Attestation

// Result says what Write did.
type Result = contract.AttestationResult

// Writer writes attestations and Events. Its RBAC needs are in Rules.
type Writer struct {
	Dynamic dynamic.Interface
	Events  typedcorev1.EventsGetter
	Now     func() time.Time
}

// Component is the Event source of the attestation writer.
const Component = "guildhall"

// Write creates the Ceremony's attestation or updates it, and records the
// input's Events on the Ceremony (for a result written without Live, one Event
// for the result). Calling it again with the same input changes nothing, so
// activity retries are safe.
func (w *Writer) Write(ctx context.Context, in Input) (Result, error) {
	if err := check(in); err != nil {
		return Result{}, err
	}
	cer, err := w.ceremony(ctx, in.CeremonyID)
	if in.Live && (errors.Is(err, ErrCeremonyGone) || (err == nil && !isOpenedFrom(cer, in))) {
		// Deleted (the watcher has announced that and cancelled the ceremony), or
		// replaced by a new Ceremony of the same name that is not this ceremony's.
		ns, name, _ := cache.SplitMetaNamespaceKey(in.CeremonyID)
		return Result{Namespace: ns, Name: name, Gone: true}, nil
	}
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
	events := in.Events
	if !in.Live {
		events = []contract.ResourceEvent{resultEvent(in, res)}
	}
	for _, ev := range events {
		if err := w.Announce(ctx, RefOf(cer), ev); err != nil {
			return res, err
		}
	}
	return res, nil
}

func check(in Input) error {
	switch {
	case in.Live && !in.Outcome.Known():
		return fmt.Errorf("%w: status %q", ErrInvalid, in.Outcome)
	case !in.Live && !in.Outcome.Result():
		return fmt.Errorf("%w: outcome %q is not a result", ErrInvalid, in.Outcome)
	}
	return nil
}

// isOpenedFrom reports whether cer is the resource the ceremony was opened from
// and still stands (a Ceremony being deleted is not attested to any more).
func isOpenedFrom(cer *unstructured.Unstructured, in Input) bool {
	return cer.GetDeletionTimestamp() == nil && (in.ResourceUID == "" || string(cer.GetUID()) == in.ResourceUID)
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

// upsert writes the attestation. Of what is there it keeps only spec.refused,
// the watcher's, while it names a generation newer than the input's; an
// attestation left by an earlier Ceremony of the same name is replaced whole.
func (w *Writer) upsert(ctx context.Context, cer *unstructured.Unstructured, in Input) (Result, error) {
	client := w.Dynamic.Resource(crd.AttestationGVR).Namespace(cer.GetNamespace())
	res := Result{Namespace: cer.GetNamespace(), Name: cer.GetName()}
	desired, err := build(cer, fromInput(cer, in))
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
	if belongsTo(cur, cer) {
		if g, _, _ := unstructured.NestedInt64(cur.Object, "spec", "ceremonyGeneration"); g > in.Generation {
			return res, fmt.Errorf("%w: %s/%s holds generation %d, input is %d", ErrStale, res.Namespace, res.Name, g, in.Generation)
		}
		mine, _ := refusedOf(desired)
		if r, ok := refusedOf(cur); ok && r.Generation > in.Generation && r.Generation > mine.Generation {
			_ = unstructured.SetNestedField(desired.Object, cur.Object["spec"].(map[string]any)["refused"], "spec", "refused")
		}
	}
	return w.replace(ctx, cur, desired, res)
}

// replace puts desired's spec, owner and labels on cur and updates it.
func (w *Writer) replace(ctx context.Context, cur, desired *unstructured.Unstructured, res Result) (Result, error) {
	client := w.Dynamic.Resource(crd.AttestationGVR).Namespace(cur.GetNamespace())
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

// belongsTo reports whether the attestation was written for this Ceremony (and
// not for a deleted one of the same name).
func belongsTo(att, cer *unstructured.Unstructured) bool {
	uid, _, _ := unstructured.NestedString(att.Object, "spec", "ceremonyRef", "uid")
	return uid == string(cer.GetUID())
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

// resultEvent is the one Event of a result written without Live.
func resultEvent(in Input, res Result) contract.ResourceEvent {
	verb := "updated"
	if res.Created {
		verb = "created"
	}
	msg := fmt.Sprintf("CeremonyAttestation %s %s for generation %d: %s, %d approvals, %d rejections, custody head %s",
		res.Name, verb, in.Generation, in.Outcome, in.Approvals, in.Rejections, short(in.ChainHead))
	if in.Reason != "" {
		msg += " (" + in.Reason + ")"
	}
	ev := contract.ResourceEvent{Key: fmt.Sprintf("result/%d/%s", in.Generation, in.Outcome), Reason: contract.EventAttested, Message: msg}
	if in.Outcome != contract.StatusQuorumReached && in.Outcome != contract.StatusSealed {
		ev.Reason, ev.Warning = contract.EventAttestedNoGo, true
	}
	return ev
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

// spec mirrors the CeremonyAttestation spec in deploy/crds. The tally and the
// signatures are pointers: nil (absent, `<none>` under kubectl's APPROVALS) in
// an attestation the watcher creates for a refusal, since it has not asked the
// workflow; the workflow's writes always state them, zero and [] included.
type spec struct {
	CeremonyRef        ref          `json:"ceremonyRef"`
	CeremonyID         string       `json:"ceremonyId"`
	CeremonyGeneration int64        `json:"ceremonyGeneration,omitempty"`
	State              string       `json:"state,omitempty"`
	Artifact           *artifact    `json:"artifact,omitempty"`
	Outcome            string       `json:"outcome,omitempty"`
	Reason             string       `json:"reason,omitempty"`
	Approvals          *int         `json:"approvals,omitempty"`
	Rejections         *int         `json:"rejections,omitempty"`
	Needed             int          `json:"needed,omitempty"`
	Pending            []string     `json:"pending,omitempty"`
	PendingCount       *int         `json:"pendingCount,omitempty"`
	Deadline           string       `json:"deadline,omitempty"`
	Attention          string       `json:"attention,omitempty"`
	Signatures         *[]signature `json:"signatures,omitempty"`
	Custody            *custody     `json:"custody,omitempty"`
	Refused            *Refusal     `json:"refused,omitempty"`
	AttestedAt         string       `json:"attestedAt"`
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

// fromInput is the attestation spec for a write by the workflow.
func fromInput(cer *unstructured.Unstructured, in Input) spec {
	sigs := make([]signature, 0, len(in.Signatures))
	s := spec{
		CeremonyRef: ref{Name: cer.GetName(), UID: string(cer.GetUID())},
		CeremonyID:  in.CeremonyID, CeremonyGeneration: in.Generation, State: string(in.Outcome),
		Reason: in.Reason, Approvals: &in.Approvals, Rejections: &in.Rejections,
		AttestedAt: in.AttestedAt.UTC().Format(time.RFC3339),
	}
	if in.Outcome.Result() {
		s.Outcome = string(in.Outcome)
	}
	if !in.Live || in.ChainHead != "" {
		s.Custody = &custody{Head: in.ChainHead, Length: in.ChainLength}
	}
	if in.Refused != nil && in.Refused.Generation > in.Generation {
		r := *in.Refused
		r.Message = clip(r.Message, maxMessage)
		s.Refused = &r
	}
	if in.Live {
		n := len(in.Pending)
		s.Needed, s.Pending, s.PendingCount, s.Attention = in.Needed, in.Pending, &n, in.Attention
		if !in.Deadline.IsZero() {
			s.Deadline = in.Deadline.UTC().Format(time.RFC3339)
		}
	}
	if in.Artifact.Digest != "" {
		s.Artifact = &artifact{Name: in.Artifact.Name, Digest: in.Artifact.Digest, URI: in.Artifact.URI}
	}
	for _, sig := range in.Signatures {
		sigs = append(sigs, signature{WitnessID: sig.WitnessID, Roles: sig.Roles, Decision: sig.Decision,
			Comment: sig.Comment, SignedAt: sig.SignedAt.UTC().Format(time.RFC3339), Statement: sig.Statement,
			Proof: sig.Proof, Via: sig.Via})
	}
	s.Signatures = &sigs
	return s
}

// build returns the attestation object for spec s.
func build(cer *unstructured.Unstructured, s spec) (*unstructured.Unstructured, error) {
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
