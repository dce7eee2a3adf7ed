package crd

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// Event reasons Guildhall records on Ceremonies. They are part of what operators
// grep for (`kubectl get events --field-selector reason=SpecRefused`), so keep them.
const (
	ReasonCeremonyOpened = "CeremonyOpened" // Normal: workflow started for a generation
	ReasonSpecForwarded  = "SpecForwarded"  // Normal: a new generation sent as spec-changed
	ReasonSpecRefused    = "SpecRefused"    // Warning: invalid spec, no message sent
	ReasonWorkflowIDUsed = "WorkflowIDInUse"
	ReasonSpecAccepted   = "SpecAccepted"     // Normal: the workflow accepted a generation
	ReasonAttested       = "Attested"         // Normal: attestation written, quorum reached or sealed
	ReasonAttestedNoGo   = "AttestedNoQuorum" // Warning: attestation written, rejected/expired/cancelled
)

// NewEventRecorder returns a recorder that writes core/v1 Events through kube (verbs
// create and patch on events) and a function that flushes and stops it.
func NewEventRecorder(kube kubernetes.Interface, component string) (record.EventRecorder, func()) {
	b := record.NewBroadcasterWithCorrelatorOptions(record.CorrelatorOptions{})
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	return b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component}), b.Shutdown
}
