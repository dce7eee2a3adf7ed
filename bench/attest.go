package bench

import (
	"context"
	"sync/atomic"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/guildhouse/guildhall/contract"
)

// AttestationStub stands in for the watcher pods' write-back activity on task
// queue guildhall-cluster: it answers every write at once and counts them. With
// it, cluster ceremonies cost what they cost the workflow and the worker (the
// extra activity, its workflow task), without a Kubernetes API server, whose
// writes run in the watcher pods, off the signing path.
type AttestationStub struct {
	w      sdkworker.Worker
	writes atomic.Int64
}

// StartAttestationStub starts the stub on c.
func StartAttestationStub(c client.Client) (*AttestationStub, error) {
	s := &AttestationStub{w: sdkworker.New(c, contract.AttestationTaskQueue, sdkworker.Options{})}
	s.w.RegisterActivityWithOptions(func(_ context.Context, in contract.Attestation) (contract.AttestationResult, error) {
		s.writes.Add(1)
		return contract.AttestationResult{Namespace: "bench", Name: in.CeremonyID}, nil
	}, activity.RegisterOptions{Name: contract.ActivityWriteAttestation})
	return s, s.w.Start()
}

// Writes is how many writes the stub answered.
func (s *AttestationStub) Writes() int64 { return s.writes.Load() }

// Stop stops the stub.
func (s *AttestationStub) Stop() { s.w.Stop() }
