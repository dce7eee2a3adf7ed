package attest

import (
	"context"
	"errors"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/guildhouse/guildhall/contract"
)

// The write-back runs as Temporal activities in the watcher pods, the only
// Guildhall pods holding a Kubernetes token (deploy/k8s/60-watcher-rbac.yaml). The
// Ceremony workflow schedules them by name on TaskQueue.
const (
	TaskQueue           = contract.AttestationTaskQueue
	ActivityWrite       = contract.ActivityWriteAttestation
	ActivityRecordSpec  = contract.ActivityRecordSpecEvent
	ErrTypeCeremonyGone = "CeremonyGone"
	ErrTypeStale        = "StaleAttestation"
	ErrTypeInvalid      = "InvalidAttestation"
)

// SpecEvent is the input of ActivityRecordSpec.
type SpecEvent struct {
	CeremonyID string `json:"ceremonyId"`
	Generation int64  `json:"generation"`
	Accepted   bool   `json:"accepted"`
	Message    string `json:"message"`
}

// Activities adapts a Writer to Temporal: errors retrying cannot fix become
// non-retryable application errors with a stable type.
type Activities struct {
	W *Writer
}

// Register registers the activities under their contract names.
func (a *Activities) Register(r worker.ActivityRegistry) {
	r.RegisterActivityWithOptions(a.WriteCeremonyAttestation, activity.RegisterOptions{Name: ActivityWrite})
	r.RegisterActivityWithOptions(a.RecordCeremonySpecEvent, activity.RegisterOptions{Name: ActivityRecordSpec})
}

// WriteCeremonyAttestation creates or updates the attestation.
func (a *Activities) WriteCeremonyAttestation(ctx context.Context, in Input) (Result, error) {
	res, err := a.W.Write(ctx, in)
	return res, classify(err)
}

// RecordCeremonySpecEvent records SpecAccepted / SpecRefused on the Ceremony.
func (a *Activities) RecordCeremonySpecEvent(ctx context.Context, e SpecEvent) error {
	return classify(a.W.RecordSpec(ctx, e.CeremonyID, e.Generation, e.Accepted, e.Message))
}

func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrCeremonyGone):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeCeremonyGone, err)
	case errors.Is(err, ErrStale):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeStale, err)
	case errors.Is(err, ErrInvalid):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalid, err)
	}
	return err
}
