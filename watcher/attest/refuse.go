package attest

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/retry"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/watcher/crd"
)

// Refusal is a generation of a Ceremony that Guildhall did not apply, and why:
// the attestation's spec.refused, shown by `kubectl get cerat` (column REFUSED)
// and `kubectl describe`.
type Refusal = contract.Refusal

// Refuse records that the watcher did not forward generation r.Generation of
// cer: a Warning Event and the attestation's spec.refused. Where cer has no
// attestation yet, one is created: state refused when the Ceremony never opened
// a ceremony, no state when it has a workflow (opened) whose first write is
// still on its way or which was opened before the live view. The attestation is
// where a restarted watcher, or another replica, finds that the refusal was
// already announced: then Refuse does nothing and reports false.
func (w *Writer) Refuse(ctx context.Context, cer *unstructured.Unstructured, r Refusal, opened bool) (announced bool, err error) {
	r.Message = clip(r.Message, maxMessage)
	cur, err := w.attestationOf(ctx, cer)
	if err != nil {
		return false, err
	}
	if cur != nil && belongsTo(cur, cer) {
		if got, ok := refusedOf(cur); ok && got.Generation == r.Generation && got.Reason == r.Reason {
			return false, nil
		}
	}
	// The Event first: if recording the refusal then fails, the retry finds the
	// Event already there and announces nothing twice.
	ev := contract.ResourceEvent{Key: fmt.Sprintf("refused/%d", r.Generation), Warning: true, Reason: r.Reason, Message: r.Message}
	if err := w.Announce(ctx, RefOf(cer), ev); err != nil {
		return false, err
	}
	// The first write goes on the attestation just read; only a conflict (someone
	// wrote in between) reads it again.
	first := true
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if !first {
			if cur, err = w.attestationOf(ctx, cer); err != nil {
				return err
			}
		}
		first = false
		return w.writeRefusal(ctx, cer, cur, r, opened)
	})
	return err == nil, err
}

// attestationOf reads cer's attestation; nil when there is none.
func (w *Writer) attestationOf(ctx context.Context, cer *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	cur, err := w.Dynamic.Resource(crd.AttestationGVR).Namespace(cer.GetNamespace()).Get(ctx, cer.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get attestation %s/%s: %w", cer.GetNamespace(), cer.GetName(), err)
	}
	return cur, nil
}

// writeRefusal puts r on cur, the attestation as last read (nil: none yet).
func (w *Writer) writeRefusal(ctx context.Context, cer, cur *unstructured.Unstructured, r Refusal, opened bool) error {
	res := Result{Namespace: cer.GetNamespace(), Name: cer.GetName()}
	refused, err := toMap(&r)
	if err != nil {
		return err
	}
	if cur != nil && belongsTo(cur, cer) {
		if err := unstructured.SetNestedField(cur.Object, refused, "spec", "refused"); err != nil {
			return fmt.Errorf("attestation %s/%s: %w", res.Namespace, res.Name, err)
		}
		_, err := w.replace(ctx, cur, cur, res)
		return err
	}
	// No attestation of this Ceremony yet. The watcher has not asked the
	// workflow (if there is one), so it states no tally and no signatures.
	s := spec{
		CeremonyRef: ref{Name: cer.GetName(), UID: string(cer.GetUID())},
		CeremonyID:  crd.CeremonyID(cer.GetNamespace(), cer.GetName()),
		Refused:     &r, AttestedAt: w.now().UTC().Format(time.RFC3339),
	}
	if !opened {
		s.State = stateRefused
	}
	desired, err := build(cer, s)
	if err != nil {
		return err
	}
	if cur != nil { // an earlier Ceremony's of the same name
		_, err = w.replace(ctx, cur, desired, res)
		return err
	}
	client := w.Dynamic.Resource(crd.AttestationGVR).Namespace(cer.GetNamespace())
	if _, err := client.Create(ctx, desired, metav1.CreateOptions{FieldManager: "guildhall"}); err != nil {
		return fmt.Errorf("create attestation %s/%s: %w", res.Namespace, res.Name, err)
	}
	return nil
}

// stateRefused is the attestation state of a Ceremony that never opened a
// ceremony (its spec.refused says why).
const stateRefused = "refused"

// refusedOf reads an attestation's spec.refused.
func refusedOf(att *unstructured.Unstructured) (Refusal, bool) {
	m, ok, _ := unstructured.NestedMap(att.Object, "spec", "refused")
	if !ok {
		return Refusal{}, false
	}
	var r Refusal
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &r); err != nil {
		return Refusal{}, false
	}
	return r, true
}
