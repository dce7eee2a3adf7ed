package watcher

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/watcher/attest"
)

// Workflows is what the watcher needs from Temporal. TemporalWorkflows implements it
// with ceremonyclient; unit tests use an in-memory fake.
type Workflows interface {
	// Lookup reports what Temporal holds for the ceremony's workflow id: whether a
	// run exists, whether it is running, which Ceremony UID opened it, and the
	// idempotency keys of every message it has received.
	Lookup(ctx context.Context, ceremonyID string) (Ledger, error)
	// SignalWithStart starts the ceremony workflow for the Ceremony with the given
	// UID, or signals the running one, delivering msg as `spec-changed`.
	SignalWithStart(ctx context.Context, spec contract.Spec, uid string, msg contract.SpecChanged) error
	// Signal sends a contract signal to the running workflow. It returns an error
	// wrapping ErrClosed when no run is open any more.
	Signal(ctx context.Context, ceremonyID, name string, payload any) error
	// ListOpen lists running workflows that the watcher opened (they carry a UID).
	ListOpen(ctx context.Context) ([]OpenCeremony, error)
}

// Notes is where the watcher records, on the cluster, what it decided about a
// Ceremony: each outcome one Event, and refusals also in the CeremonyAttestation,
// where a restarted watcher or another replica finds them already announced.
// attest.Writer implements it; unit tests use an in-memory fake.
type Notes interface {
	// Refuse records that a generation of cer was not forwarded; it reports
	// false, and does nothing, when that refusal is already recorded.
	// opened says the Ceremony has a workflow.
	Refuse(ctx context.Context, cer *unstructured.Unstructured, r attest.Refusal, opened bool) (announced bool, err error)
	// Announce records one Event about a Ceremony (which may be deleted) once
	// per key.
	Announce(ctx context.Context, ref corev1.ObjectReference, ev contract.ResourceEvent) error
}

// ErrClosed says the ceremony's workflow has ended, so a signal has nowhere to go.
var ErrClosed = errors.New("ceremony workflow is closed")

// ErrIDTaken says the workflow id cannot be used for this Ceremony: a closed run
// holds it and the id reuse policy forbids another.
var ErrIDTaken = errors.New("workflow id already used by an earlier ceremony")

// Ledger is the watcher's record of one ceremony workflow, rebuilt from Temporal
// after a restart or handover and kept in memory while leading.
type Ledger struct {
	Exists  bool
	Running bool
	// UID of the Ceremony resource that opened the workflow; "" for ceremonies
	// opened elsewhere (web, CLI), which the watcher never touches.
	UID string
	// Sent holds the idempotency keys of messages the workflow has received.
	Sent map[string]bool
}

func (l *Ledger) has(key string) bool { return l.Sent[key] }

func (l *Ledger) mark(key string) {
	if l.Sent == nil {
		l.Sent = map[string]bool{}
	}
	l.Sent[key] = true
}

// OpenCeremony is a running workflow opened by the watcher.
type OpenCeremony struct {
	CeremonyID string
	UID        string
}

// Idempotency keys are a pure function of the resource state that caused the
// message, so the same state always yields the same key, whichever replica or
// restart computes it. The workflow drops repeats; the watcher does not even send
// them because its ledger (read back from the workflow's history) already has them.

// SpecKey identifies generation gen of the Ceremony with this UID.
func SpecKey(uid string, gen int64) string { return fmt.Sprintf("watcher/%s/spec/%d", uid, gen) }

// DecisionKey identifies the substrate's phase for an observed generation.
func DecisionKey(uid, phase string, observedGen int64) string {
	return fmt.Sprintf("watcher/%s/phase/%s/%d", uid, phase, observedGen)
}

// CancelKey identifies the deletion of the Ceremony with this UID.
func CancelKey(uid string) string { return fmt.Sprintf("watcher/%s/cancel", uid) }

// Message kinds, as counted in metrics.
const (
	KindStart    = "start"
	KindSpec     = contract.SignalSpecChanged
	KindDecision = contract.SignalSubstrateDecision
	KindCancel   = contract.SignalCancel
)

// CancelReasonDeleted is the reason the watcher gives when a Ceremony disappears.
const CancelReasonDeleted = "resource deleted"
