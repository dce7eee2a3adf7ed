package attest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/watcher/crd"
)

// Events are created with a name derived from the Ceremony's UID and the
// outcome's key, not through client-go's record.EventRecorder (whose names carry
// a timestamp and whose de-duplication lives in one process's memory). Creating
// the same outcome again — an activity retry, a watcher restart, another
// replica — finds the Event there and changes nothing, so every outcome is one
// Event. What was announced is also recorded durably (the workflow's history for
// its outcomes, the attestation's spec.refused for the watcher's), so an outcome
// is not announced again after its Event has expired (the API server's
// --event-ttl, an hour by default).

// maxMessage keeps Event messages to what `kubectl describe` shows comfortably.
const maxMessage = 1024

// CeremonyRef is the object reference of a Ceremony, for Events about it; it
// works for a deleted Ceremony too.
func CeremonyRef(namespace, name string, uid types.UID) corev1.ObjectReference {
	return corev1.ObjectReference{APIVersion: crd.CeremonyGVK.GroupVersion().String(), Kind: crd.CeremonyGVK.Kind,
		Namespace: namespace, Name: name, UID: uid}
}

// RefOf is CeremonyRef for a Ceremony object.
func RefOf(cer *unstructured.Unstructured) corev1.ObjectReference {
	return CeremonyRef(cer.GetNamespace(), cer.GetName(), cer.GetUID())
}

// Announce records ev on the Ceremony once: it creates the Event unless one for
// the same Ceremony UID and key exists.
func (w *Writer) Announce(ctx context.Context, ref corev1.ObjectReference, ev contract.ResourceEvent) error {
	now := metav1.NewTime(w.now())
	typ := corev1.EventTypeNormal
	if ev.Warning {
		typ = corev1.EventTypeWarning
	}
	e := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: EventName(ref, ev.Key), Namespace: ref.Namespace},
		InvolvedObject:      ref,
		Reason:              ev.Reason,
		Message:             clip(ev.Message, maxMessage),
		Type:                typ,
		Source:              corev1.EventSource{Component: Component},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		ReportingController: Component,
		ReportingInstance:   instance,
	}
	_, err := w.Events.Events(ref.Namespace).Create(ctx, e, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("record Event %s on Ceremony %s/%s: %w", ev.Reason, ref.Namespace, ref.Name, err)
	}
	return nil
}

// EventName is the name of the Event for one outcome (key) of one Ceremony.
func EventName(ref corev1.ObjectReference, key string) string {
	sum := sha256.Sum256([]byte(string(ref.UID) + "/" + key))
	name := ref.Name
	if len(name) > 253-17 {
		name = name[:253-17]
	}
	return name + "." + hex.EncodeToString(sum[:8])
}

// instance names this process in the Events it records.
var instance = func() string {
	h, _ := os.Hostname()
	return h
}()

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
