package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/contract"
)

// attestChange gates the write-back of CeremonyAttestations; histories recorded
// before it never attest.
const attestChange = "cluster-attestation"

// attestOptions send the write-back to the watcher pods. If no watcher runs, the
// task waits in its queue for a day; the attestation is idempotent (an upsert),
// so retries are safe.
var attestOptions = workflow.ActivityOptions{
	TaskQueue:              contract.AttestationTaskQueue,
	ScheduleToCloseTimeout: 24 * time.Hour,
	StartToCloseTimeout:    30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
	},
}

// attest hands the ceremony's result to the substrate as a CeremonyAttestation
// when the ceremony came from the cluster and has reached quorum or ended. It
// runs in the background like notifications: the ceremony does not wait for the
// Kubernetes API, but it does not finish before the write-back has.
func (c *ceremony) attest(actx workflow.Context) {
	if c.st.Spec.Source != contract.SourceCluster {
		return
	}
	if c.live.on {
		c.liveResult(actx)
		return
	}
	if workflow.GetVersion(actx, attestChange, workflow.DefaultVersion, 1) < 1 {
		return
	}
	st := c.st // the state at this status change, not a later one
	st.Signatures = append([]contract.Signature(nil), c.st.Signatures...)
	c.background++
	workflow.Go(actx, func(gctx workflow.Context) {
		defer func() { c.background-- }()
		log := workflow.GetLogger(gctx)
		var head activities.ChainHead
		if err := workflow.ExecuteActivity(gctx, a.CeremonyChainHead, st.CeremonyID).Get(gctx, &head); err != nil {
			log.Error("read custody chain head for the attestation failed", "error", err)
			return
		}
		in := contract.Attestation{
			CeremonyID: st.CeremonyID, Generation: st.Spec.Generation, Outcome: st.Status, Reason: st.Reason,
			Artifact: st.Spec.Artifact, Signatures: st.Signatures, Approvals: st.Approvals, Rejections: st.Rejections,
			ChainHead: head.Hash, ChainLength: head.Length, AttestedAt: workflow.Now(gctx),
		}
		var res contract.AttestationResult
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(gctx, attestOptions),
			contract.ActivityWriteAttestation, in).Get(gctx, &res)
		if err != nil {
			log.Error("write CeremonyAttestation failed", "outcome", st.Status, "error", err)
			return
		}
		if err := workflow.ExecuteActivity(gctx, a.RecordAttested, activities.Attested{
			CeremonyID: st.CeremonyID, Outcome: st.Status, ChainHead: head.Hash, Result: res, At: workflow.Now(gctx),
		}).Get(gctx, nil); err != nil {
			log.Error("record attestation on the custody chain failed", "error", err)
		}
	})
}
