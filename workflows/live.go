package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/quorum"
	"github.com/guildhouse/guildhall/rules"
)

// liveChange versions the live view of a cluster ceremony: its
// CeremonyAttestation is written when it opens and after every change (state,
// approvals, pending witnesses, deadline, generation), not only at quorum and at
// the end, and every outcome it reaches about its Ceremony (opened, amendment
// accepted or refused, quorum, closed, attention) is one Kubernetes Event, sent
// with the write. The marker is recorded at the start of each run of a cluster
// ceremony (other ceremonies never reach it, so their histories are unchanged);
// runs recorded before it keep attest's results-only write-back.
const liveChange = "live-attestation"

// liveView is the write-back's state: one coroutine at a time writes the
// latest state; changes made while it writes are folded into its next write,
// so a burst of signatures costs a few writes, not one each, and writes never
// arrive out of order.
type liveView struct {
	on      bool
	dirty   bool
	writing bool
	events  []contract.ResourceEvent
	// result is set when a status change to a result is waiting to be written;
	// its write is then recorded on the custody chain (attestation.written).
	result bool
	// refused is the newest generation the workflow refused, until a newer one
	// is accepted (the attestation's spec.refused).
	refused *contract.Refusal
}

// startLive decides, at the start of a run, whether this run keeps the live
// view (see liveChange).
func (c *ceremony) startLive(ctx workflow.Context, spec contract.Spec) {
	if spec.Source == contract.SourceCluster {
		changed(ctx, liveChange, &c.live.on)
	}
}

// showLive schedules a write of the current state with events. It does nothing
// for ceremonies without the live view.
func (c *ceremony) showLive(ctx workflow.Context, events ...contract.ResourceEvent) {
	if !c.live.on {
		return
	}
	c.live.events = append(c.live.events, events...)
	c.live.dirty = true
	if c.live.writing {
		return
	}
	c.live.writing = true
	c.background++
	// Disconnected: a Temporal cancellation request ends the ceremony, and that
	// end is written too.
	wctx, _ := workflow.NewDisconnectedContext(ctx)
	workflow.Go(wctx, func(gctx workflow.Context) {
		defer func() { c.live.writing, c.background = false, c.background-1 }()
		for c.live.dirty {
			events, result := c.live.events, c.live.result
			c.live.dirty, c.live.events, c.live.result = false, nil, false
			c.writeLive(gctx, events, result)
		}
	})
}

// writeLive writes the current state; for a result, it cites the custody chain
// head and records the hand-off on the chain.
func (c *ceremony) writeLive(gctx workflow.Context, events []contract.ResourceEvent, result bool) {
	log := workflow.GetLogger(gctx)
	st := c.st
	in := contract.Attestation{
		CeremonyID: st.CeremonyID, Generation: st.Spec.Generation, Outcome: st.Status, Reason: st.Reason,
		Artifact: st.Spec.Artifact, Signatures: append([]contract.Signature{}, st.Signatures...),
		Approvals: st.Approvals, Rejections: st.Rejections, AttestedAt: workflow.Now(gctx),
		Live: true, ResourceUID: resourceUID(gctx), Needed: st.Spec.Quorum.Threshold,
		Pending: append([]string(nil), st.Pending...), Deadline: st.Spec.Deadline, Attention: st.Attention, Events: events,
		Refused: c.live.refused,
	}
	actx := workflow.WithActivityOptions(gctx, activityOptions)
	if st.Status.Result() {
		var head activities.ChainHead
		if err := workflow.ExecuteActivity(actx, a.CeremonyChainHead, st.CeremonyID).Get(gctx, &head); err != nil {
			log.Error("read custody chain head for the attestation failed", "error", err)
		}
		in.ChainHead, in.ChainLength = head.Hash, head.Length
	}
	var res contract.AttestationResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(gctx, attestOptions),
		contract.ActivityWriteAttestation, in).Get(gctx, &res)
	switch {
	case err != nil:
		log.Error("write CeremonyAttestation failed", "status", st.Status, "error", err)
	case res.Gone:
		// Deleted (the watcher announced it and cancelled the ceremony) or
		// replaced by a new Ceremony of the same name: nothing to write to.
		log.Info("Ceremony resource gone; CeremonyAttestation not written", "status", st.Status)
	case result:
		if err := workflow.ExecuteActivity(actx, a.RecordAttested, activities.Attested{
			CeremonyID: st.CeremonyID, Outcome: st.Status, ChainHead: in.ChainHead, Result: res, At: workflow.Now(gctx),
		}).Get(gctx, nil); err != nil {
			log.Error("record attestation on the custody chain failed", "error", err)
		}
	}
}

// resourceUID is the UID of the Ceremony the watcher opened this ceremony from.
func resourceUID(ctx workflow.Context) string {
	var uid string
	if p := workflow.GetInfo(ctx).Memo.GetFields()[contract.MemoResourceUID]; p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &uid)
	}
	return uid
}

// The events, one per outcome. Keys are unique per ceremony and outcome.

func (c *ceremony) openedEvent() contract.ResourceEvent {
	s := c.st.Spec
	return contract.ResourceEvent{Key: "opened", Reason: contract.EventCeremonyOpened, Message: fmt.Sprintf(
		"Workflow %s opened generation %d: needs %s by %s; waiting for %s",
		contract.WorkflowID(c.st.CeremonyID), s.Generation, rules.PolicyWords(s.Quorum), fmtTime(s.Deadline), strings.Join(c.st.Pending, ", "))}
}

// statusEvent announces the status setStatus just set (quorum reached or final).
func (c *ceremony) statusEvent() contract.ResourceEvent {
	st := c.st
	msg := fmt.Sprintf("Ceremony %s at generation %d with %d of %d approvals and %d rejections",
		strings.ReplaceAll(string(st.Status), "_", " "), st.Spec.Generation, st.Approvals, st.Spec.Quorum.Threshold, st.Rejections)
	ev := contract.ResourceEvent{Key: fmt.Sprintf("status/%d", c.seqs.Status), Reason: contract.EventAttested}
	switch st.Status {
	case contract.StatusQuorumReached:
		msg += "; waiting for the substrate to seal or abort it"
	case contract.StatusSealed:
		msg += ": " + st.Reason
	default:
		msg += ": " + st.Reason
		ev.Reason, ev.Warning = contract.EventAttestedNoGo, true
	}
	ev.Message = msg
	return ev
}

// liveResult announces a result and has its write recorded on the custody chain.
func (c *ceremony) liveResult(ctx workflow.Context) {
	c.live.result = true
	c.showLive(ctx, c.statusEvent())
}

// liveAmended announces an accepted amendment.
func (c *ceremony) liveAmended(ctx workflow.Context, am contract.Amendment, after quorum.Result) {
	msg := fmt.Sprintf("Generation %d accepted: %s", am.Generation, strings.Join(am.Changes, "; "))
	if am.Voided > 0 {
		msg += fmt.Sprintf("; %d signature(s) voided, signing starts again for them", am.Voided)
	}
	if c.st.Status == contract.StatusQuorumReached && after.Verdict != quorum.Met {
		msg += "; the quorum is no longer met: collecting again"
	}
	if c.live.refused != nil && c.live.refused.Generation <= am.Generation {
		c.live.refused = nil
	}
	c.showLive(ctx, contract.ResourceEvent{Key: fmt.Sprintf("spec/%d", am.Generation), Reason: contract.EventSpecAccepted, Message: msg})
}

// liveRefused announces an amendment the workflow refused, and shows it on
// the attestation while it is the newest generation.
func (c *ceremony) liveRefused(ctx workflow.Context, gen int64, err error) {
	ans := answerOf(err)
	r := contract.Refusal{Generation: gen, Reason: contract.EventSpecRefused,
		Message: fmt.Sprintf("Generation %d refused by the workflow: %s; it keeps generation %d", gen, ans.Reason, c.st.Spec.Generation)}
	if ans.Code == "closed" {
		r.Reason = contract.EventSpecIgnored
	}
	if c.live.on && gen > c.st.Spec.Generation && (c.live.refused == nil || gen > c.live.refused.Generation) {
		c.live.refused = &r
	}
	c.showLive(ctx, contract.ResourceEvent{Key: fmt.Sprintf("refused-message/%d", c.seqs.Reject), Warning: true, Reason: r.Reason, Message: r.Message})
}

func (c *ceremony) attentionEvent(detail string) contract.ResourceEvent {
	return contract.ResourceEvent{Key: fmt.Sprintf("attention/%d", c.seqs.Attention), Warning: true,
		Reason: contract.EventAttentionNeeded, Message: detail + "; seal, abort or cancel it by hand (runbook: manual intervention)"}
}
