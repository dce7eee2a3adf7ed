package workflows

import (
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/quorum"
	"github.com/guildhouse/guildhall/rules"
)

// onSpecChanged applies an amendment from the cluster. Stale or repeated
// generations are ignored; a bad payload is recorded as rejected.
func (c *ceremony) onSpecChanged(actx workflow.Context, raw []byte, perr error) {
	var msg contract.SpecChanged
	err := decodeMessage(raw, perr, &msg, func() string { return msg.IdempotencyKey })
	if c.duplicate(msg.IdempotencyKey) {
		return
	}
	spec := c.intuneSpec(actx, msg.Spec)
	if spec.ID == "" {
		spec.ID = c.st.CeremonyID
	}
	spec.Generation = msg.Generation
	switch {
	case err != nil:
	case msg.Generation <= c.st.Generation:
		// The watcher resends on resync; an old generation changes nothing.
		c.answers[msg.IdempotencyKey] = Answer{Code: "stale", Reason: fmt.Sprintf("generation %d is not newer than %d", msg.Generation, c.st.Generation)}
		workflow.GetLogger(actx).Info("stale spec-changed ignored", "generation", msg.Generation, "current", c.st.Generation)
		return
	case c.st.Status.Final():
		err = rejection("closed", fmt.Sprintf("the ceremony is %s; amendments no longer apply", c.st.Status))
	case spec.ID != c.st.CeremonyID:
		err = rejection("invalid", fmt.Sprintf("spec id %q does not match the ceremony %q", spec.ID, c.st.CeremonyID))
	default:
		problem := c.specProblem(actx, spec)
		if problem == "" && rules.FromTemplate(spec) && c.assuranceEnabled(actx) {
			// As at opening: the template and the directory as they are now.
			spec, problem = c.resolveTemplate(actx, actx, spec)
		}
		if problem != "" {
			err = rejection("invalid", "invalid spec: "+problem)
		}
	}
	if err != nil {
		c.reject(actx, contract.SignalSpecChanged, msg.IdempotencyKey, "", err)
		c.liveRefused(actx, msg.Generation, err)
		return
	}
	c.answers[msg.IdempotencyKey] = Answer{}
	c.amend(actx, msg.IdempotencyKey, spec)
}

// amend applies a valid, newer spec:
//   - a changed artifact digest, policy, initiator, Intune target or role of a kept witness voids
//     every collected signature (they were given for something else);
//   - a removed witness's signature is voided, the others are kept;
//   - an added witness keeps everything;
//   - a moved deadline moves the reminders and the expiry.
//
// Any voiding starts a new signature epoch. The ceremony may fall back from
// quorum_reached to collecting, or close when the quorum became impossible.
func (c *ceremony) amend(actx workflow.Context, key string, spec contract.Spec) {
	now := workflow.Now(actx)
	old, oldMembers := c.st.Spec, c.members
	changes, voidAll, removed := diffSpecs(old, oldMembers, spec)
	reason := "the ceremony's artifact or policy changed"
	var voided []contract.Signature
	var voidedRows []activities.VoidedSignature
	kept := []contract.Signature{}
	for _, s := range c.st.Signatures {
		if voidAll || slices.Contains(removed, s.WitnessID) {
			s.VoidedAt = &now
			s.VoidReason = reason
			if !voidAll {
				s.VoidReason = "the witness was removed from the ceremony"
			}
			voided = append(voided, s)
			voidedRows = append(voidedRows, activities.VoidedSignature{WitnessID: s.WitnessID, Epoch: s.Epoch})
			continue
		}
		kept = append(kept, s)
	}
	am := contract.Amendment{Generation: spec.Generation, IdempotencyKey: key, At: now, Changes: changes, Voided: len(voided)}
	if len(voided) > 0 {
		c.st.Epoch++
		am.NewEpoch = true
		if !voidAll {
			reason = "witness removed"
		}
	}
	c.st.Signatures, c.st.Voided = kept, append(c.st.Voided, voided...)
	c.st.Generation = spec.Generation
	c.st.Amendments = append(c.st.Amendments, am)
	c.setSpec(spec)
	if !old.Deadline.Equal(spec.Deadline) {
		c.reminderStep, c.st.RemindersSent = 0, 0
		c.skipPastReminders(now)
	}
	res := c.tally()
	if err := workflow.ExecuteActivity(actx, a.RecordAmended, activities.Amended{
		Spec: spec, Generation: spec.Generation, MessageKey: key, At: now, Changes: changes, Epoch: c.st.Epoch,
		Voided: voidedRows, VoidReason: reason, Approvals: res.Approvals, Rejections: res.Rejections,
		Pending: c.st.Pending, Status: c.st.Status,
	}).Get(actx, nil); err != nil {
		workflow.GetLogger(actx).Error("record amendment failed", "error", err)
	}
	if c.keysEnabled(actx) {
		c.loadKeys(actx, c.keyOwners(actx))
	}
	c.upsertMemo(actx)
	c.liveAmended(actx, am, res)
	if c.st.Status == contract.StatusQuorumReached && res.Verdict != quorum.Met {
		c.st.QuorumReachedAt = nil
		c.setStatus(actx, contract.StatusCollecting, "amended: the quorum is no longer met", "cluster")
	}
	c.evaluate(actx)
	c.notifyAmended(actx, uniqueSorted(append(c.memberIDs(), removedMembers(oldMembers, c.members)...)), am)
}

// diffSpecs describes in plain words what changed, whether it voids every
// signature, and which witnesses were removed. Output order is fixed.
func diffSpecs(old contract.Spec, oldMembers []quorum.Member, spec contract.Spec) (changes []string, voidAll bool, removed []string) {
	newMembers := rules.Members(spec)
	if old.Artifact.Digest != spec.Artifact.Digest {
		changes = append(changes, fmt.Sprintf("artifact digest changed from %s to %s", old.Artifact.Digest, spec.Artifact.Digest))
		voidAll = true
	}
	if old.Artifact.Name != spec.Artifact.Name || old.Artifact.URI != spec.Artifact.URI {
		changes = append(changes, fmt.Sprintf("artifact changed from %s (%s) to %s (%s)", old.Artifact.Name, old.Artifact.URI, spec.Artifact.Name, spec.Artifact.URI))
	}
	// The policy, minimum assurance included, is part of what a statement signs
	// (statement.PolicyHash).
	if a, b := rules.PolicyWords(old.Quorum), rules.PolicyWords(spec.Quorum); a != b {
		changes = append(changes, fmt.Sprintf("quorum policy changed from %q to %q", a, b))
		voidAll = true
	}
	if old.Initiator != spec.Initiator {
		changes = append(changes, fmt.Sprintf("initiator changed from %s to %s", old.Initiator, spec.Initiator))
		voidAll = true
	}
	if ch := intuneChanged(old.Intune, spec.Intune); ch != "" {
		// Where the release goes is part of what was signed (PolicyHash).
		changes = append(changes, ch)
		voidAll = true
	}
	for _, m := range oldMembers {
		n, ok := findMember(newMembers, m.ID)
		switch {
		case !ok:
			changes = append(changes, "witness removed: "+m.ID)
			removed = append(removed, m.ID)
		case !sameSet(m.Roles, n.Roles):
			changes = append(changes, fmt.Sprintf("roles of %s changed from [%s] to [%s]", m.ID, strings.Join(m.Roles, ", "), strings.Join(n.Roles, ", ")))
			voidAll = true
		}
	}
	for _, m := range newMembers {
		if _, ok := findMember(oldMembers, m.ID); !ok {
			changes = append(changes, "witness added: "+m.ID)
		}
	}
	if !old.Deadline.Equal(spec.Deadline) {
		changes = append(changes, fmt.Sprintf("deadline moved from %s to %s", fmtTime(old.Deadline), fmtTime(spec.Deadline)))
	}
	if old.Kind != spec.Kind {
		changes = append(changes, fmt.Sprintf("kind changed from %s to %s", old.Kind, spec.Kind))
	}
	if old.Title != spec.Title || old.Description != spec.Description {
		changes = append(changes, "title or description changed")
	}
	if len(changes) == 0 {
		changes = []string{"no change that affects signing"}
	}
	return changes, voidAll, removed
}

func findMember(ms []quorum.Member, id string) (quorum.Member, bool) {
	for _, m := range ms {
		if m.ID == id {
			return m, true
		}
	}
	return quorum.Member{}, false
}

func removedMembers(old, now []quorum.Member) []string {
	var out []string
	for _, m := range old {
		if _, ok := findMember(now, m.ID); !ok {
			out = append(out, m.ID)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	x, y := uniqueSorted(a), uniqueSorted(b)
	return slices.Equal(x, y)
}
