package workflows

import (
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/statement"
)

// assuranceChange versions what the directory and the web app's vouching brought:
// the ceremony holds the web's vouching keys with the witnesses' keys; right
// before accepting a signature it loads the signer (LoadSigner: their keys, the
// web's, and their standing in the directory) in place of LoadSigningKeys,
// refuses a deactivated signer or one who lost a role the ceremony lists them
// with, records how the signer was authenticated (the assurance) and refuses
// one below the policy's minAssurance; and a spec naming a template with no
// witnesses is completed from it at opening (ResolveTemplate). Runs recorded
// before it (DefaultVersion) keep the old path.
const assuranceChange = "directory-assurance"

// assuranceEnabled reports whether this run takes the assuranceChange path,
// recording the marker the first time it is asked.
func (c *ceremony) assuranceEnabled(ctx workflow.Context) bool {
	return changed(ctx, assuranceChange, &c.assuranceOn)
}

// keyOwners are the ids whose keys the ceremony holds: its members, and on the
// assuranceChange path the web's vouching keys.
func (c *ceremony) keyOwners(ctx workflow.Context) []string {
	ids := c.memberIDs()
	if c.assuranceEnabled(ctx) {
		ids = append(ids, statement.WebSigner)
	}
	return ids
}

// admit is the assuranceChange path of accepting a signature: the signer as the
// Ops DB has them now, then the proof, the directory's standing and the
// assurance. It returns the rejection, or how the signer was authenticated.
func (c *ceremony) admit(actx workflow.Context, req contract.SignRequest) (contract.Assurance, string, []string, error) {
	var signer activities.Signer
	if err := c.execDB(actx, a.LoadSigner, req.WitnessID).Get(actx, &signer); err != nil {
		// Retries are unlimited: only a cancelled workflow gets here. Without
		// the signer's keys and standing nothing can be said of the signature,
		// so it is refused rather than counted at the lowest assurance.
		workflow.GetLogger(actx).Error("load signer failed", "witness", req.WitnessID, "error", err)
		return "", "", nil, rejection(rules.CodeClosed, "the ceremony is ending: the signer could not be checked")
	}
	c.replaceKeys([]string{req.WitnessID, statement.WebSigner}, signer.Keys)
	if err := c.verifyProof(workflow.Now(actx), req, false); err != nil {
		return "", "", nil, err
	}
	if r := rules.MayStillSign(c.st.Spec, req.WitnessID, signer.Standing); r != nil {
		return "", "", nil, rejection(r.Code, r.Reason)
	}
	level, method, why := statement.Assurance(c.st.CeremonyID, req, c.keys)
	if why != "" {
		workflow.GetLogger(actx).Warn("vouch not accepted; the signature counts as operator", "witness", req.WitnessID, "why", why)
	}
	if r := rules.MeetsAssurance(c.st.Spec.Quorum, level); r != nil {
		return "", "", nil, rejection(r.Code, r.Reason)
	}
	return level, method, signer.Standing.Roles, nil
}

// checkAssurance is the validator's assurance check with the cached keys. A
// vouch by a web key the cache does not know (registered since the ceremony
// opened) is let through to admit, which loads the keys registered now.
func (c *ceremony) checkAssurance(req contract.SignRequest) error {
	if !c.assuranceOn || c.st.Spec.Quorum.MinAssurance == "" {
		return nil
	}
	level, _, _ := statement.Assurance(c.st.CeremonyID, req, c.keys)
	r := rules.MeetsAssurance(c.st.Spec.Quorum, level)
	if r == nil || (req.Vouch != nil && !c.knowsKey(statement.WebSigner, req.Vouch.KeyID)) {
		return nil
	}
	return rejection(r.Code, r.Reason)
}

// resolveTemplate completes a spec that names a template and lists no witnesses
// from the template and the directory as they are now, checking that the
// initiator may open it. It returns the completed spec or what is wrong.
func (c *ceremony) resolveTemplate(ctx, actx workflow.Context, spec contract.Spec) (contract.Spec, string) {
	var res activities.Resolved
	if err := workflow.ExecuteActivity(actx, a.ResolveTemplate, spec).Get(ctx, &res); err != nil {
		return spec, "template could not be resolved: " + err.Error()
	}
	if res.Problem != "" {
		return spec, res.Problem
	}
	// A template's Intune target is honoured only on runs that honour targets.
	spec = c.intuneSpec(ctx, res.Spec)
	return spec, rules.ValidateSpec(spec, workflow.Now(ctx)).Error()
}

// onDirectoryChanged takes the directory's word that a witness was deactivated
// or reactivated. A deactivated witness the ceremony still waits for flags it
// for the initiator and operators (attention, custody event, notification);
// when none is left, the flag is lowered.
func (c *ceremony) onDirectoryChanged(actx workflow.Context, raw []byte, perr error) {
	var msg contract.DirectoryChanged
	err := decodeMessage(raw, perr, &msg, func() string { return msg.IdempotencyKey })
	if err == nil && strings.TrimSpace(msg.WitnessID) == "" {
		err = rejection("invalid", "directory-changed needs witnessId")
	}
	if c.duplicate(msg.IdempotencyKey) {
		return
	}
	if err != nil {
		c.reject(actx, contract.SignalDirectoryChanged, msg.IdempotencyKey, "", err)
		return
	}
	c.answers[msg.IdempotencyKey] = Answer{}
	// Runs on the old path neither refuse a deactivated signer nor flag one;
	// after quorum, who has not signed no longer matters.
	if !c.assuranceEnabled(actx) || c.st.Status != contract.StatusCollecting || !slices.Contains(c.st.Pending, msg.WitnessID) {
		return
	}
	i := slices.Index(c.st.Deactivated, msg.WitnessID)
	switch {
	case msg.Deactivated && i < 0:
		c.st.Deactivated = append(c.st.Deactivated, msg.WitnessID)
		slices.Sort(c.st.Deactivated)
		if c.st.Attention == "" || c.st.Attention == contract.AttentionWitnessDeactivated {
			c.flagAttention(actx, contract.AttentionWitnessDeactivated, fmt.Sprintf(
				"%s, who has not signed, was deactivated in the directory by %s; if the quorum now needs them, amend or withdraw the ceremony",
				msg.WitnessID, orDefault(msg.By, "an admin")))
		}
	case !msg.Deactivated && i >= 0:
		c.st.Deactivated = slices.Delete(c.st.Deactivated, i, i+1)
		if len(c.st.Deactivated) == 0 && c.st.Attention == contract.AttentionWitnessDeactivated {
			c.st.Attention = ""
			c.upsertSearchAttributes(actx)
			c.showLive(actx)
		}
	}
}

// replaceKeys replaces the cached keys of ids with fresh, keeping the order.
func (c *ceremony) replaceKeys(ids []string, fresh []statement.PublicKey) {
	kept := WitnessKeys{}
	for _, k := range c.keys {
		if !slices.Contains(ids, k.WitnessID) {
			kept = append(kept, k)
		}
	}
	kept = append(kept, fresh...)
	slices.SortFunc(kept, func(x, y statement.PublicKey) int {
		switch {
		case x.WitnessID != y.WitnessID:
			return compare(x.WitnessID, y.WitnessID)
		case x.Type != y.Type:
			return compare(x.Type, y.Type)
		}
		return compare(x.KeyID, y.KeyID)
	})
	c.keys = kept
}
