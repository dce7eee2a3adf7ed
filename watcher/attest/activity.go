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
	ErrTypeCeremonyGone = "CeremonyGone"
	ErrTypeStale        = "StaleAttestation"
	ErrTypeInvalid      = "InvalidAttestation"
)

// Activities adapts a Writer to Temporal: errors retrying cannot fix become
// non-retryable application errors with a stable type.
type Activities struct {
	W *Writer
}

// Register registers the activities under their contract names.
func (a *Activities) Register(r worker.ActivityRegistry) {
	r.RegisterActivityWithOptions(a.WriteCeremonyAttestation, activity.RegisterOptions{Name: ActivityWrite})
}

// WriteCeremonyAttestation creates or updates the attestation and records the
// input's Events. A Ceremony that is gone answers Result.Gone, not an error:
// deleting a Ceremony is the normal way to cancel it.
func (a *Activities) WriteCeremonyAttestation(ctx context.Context, in Input) (Result, error) {
	res, err := a.W.Write(ctx, in)
	return res, classify(err)
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
