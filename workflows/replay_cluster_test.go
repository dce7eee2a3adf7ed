package workflows_test

import (
	"context"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
)

// captureCluster captures the path of a ceremony the watcher opened from a
// Ceremony resource (source cluster, the resource's UID in the memo): its
// write-back runs on task queue guildhall-cluster, here answered by a stub that
// writes nothing. It signs, is amended, gets a refused amendment, reaches quorum
// and is sealed.
func captureCluster(cp *capture) {
	t := cp.t
	aw := sdkworker.New(cp.c, contract.AttestationTaskQueue, sdkworker.Options{})
	aw.RegisterActivityWithOptions(func(_ context.Context, in contract.Attestation) (contract.AttestationResult, error) {
		return contract.AttestationResult{Namespace: "replay", Name: "cluster", ResourceVersion: "1"}, nil
	}, activity.RegisterOptions{Name: contract.ActivityWriteAttestation})
	if err := aw.Start(); err != nil {
		t.Fatal(err)
	}
	defer aw.Stop()

	spec := testSpec()
	spec.ID, spec.Source, spec.Generation = "replay/cluster", contract.SourceCluster, 1
	spec.Deadline = time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	opts := ceremonyclient.StartOptions(spec)
	opts.TaskQueue = cp.tq
	opts.Memo[contract.MemoResourceUID] = "uid-replay-cluster"
	run, err := cp.c.ExecuteWorkflow(context.Background(), opts, contract.WorkflowType, spec)
	if err != nil {
		t.Fatal(err)
	}
	cp.sign(spec, "alice", contract.Approve, "a1")
	g2 := spec
	g2.Witnesses = append(slices.Clone(spec.Witnesses), contract.WitnessRef{ID: "dave", Role: "legal"})
	cp.signal(spec, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s2", Generation: 2, Spec: g2})
	waitGeneration(t, cp.cc, spec.ID, 2)
	g3 := g2
	g3.Deadline = time.Now().Add(-time.Hour).UTC().Truncate(time.Second) // refused: already past
	cp.signal(spec, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s3", Generation: 3, Spec: g3})
	cp.sign(spec, "bob", contract.Approve, "b1")
	waitStatus(t, cp.cc, spec.ID, contract.StatusQuorumReached)
	cp.signal(spec, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d1", Phase: "Sealed", Generation: 2})
	cp.save("cluster", run, "", contract.StatusSealed)
}
