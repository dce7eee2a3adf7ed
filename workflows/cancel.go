package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/statement"
)

// cancelAssuranceChange versions recording how a cancel's sender was
// authenticated, as signatures' assurance is (assuranceChange): the web app
// vouches for the person it authenticated (contract.Cancel.Vouch); the
// workflow checks the vouch against the web keys registered now and records
// session or token, or operator for a cancel without a valid vouch (sent to
// Temporal directly, or altered on the way: its "by" is then a name Guildhall
// did not authenticate). An operator may cancel, so such a cancel is not
// refused; the record says what it was. The version is asked only when a
// cancel is accepted, so runs that never take one record no marker; runs
// recorded before it (DefaultVersion) keep the old path.
const cancelAssuranceChange = "cancel-assurance"

// cancelAssurance is the cancelAssuranceChange path of accepting msg: how its
// sender was authenticated, as its RecordStatus input records it.
func (c *ceremony) cancelAssurance(actx workflow.Context, msg contract.Cancel) activities.StatusChanged {
	if msg.Vouch != nil {
		// The web keys registered now decide, as for a signature (admit): one
		// registered since the ceremony opened vouches, a retired one does not.
		c.loadKeys(actx, []string{statement.WebSigner})
	}
	level, method, why := statement.CancelAssurance(c.st.CeremonyID, msg, c.keys)
	if why != "" {
		workflow.GetLogger(actx).Warn("cancel vouch not accepted; the cancel counts as operator", "by", msg.By, "why", why)
	}
	in := activities.StatusChanged{Assurance: level, AssuranceMethod: method, MessageKey: msg.IdempotencyKey}
	if level != contract.AssuranceOperator {
		in.Vouch = msg.Vouch
	}
	return in
}
