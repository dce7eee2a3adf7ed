package intune

import (
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
)

// A Target is what a ceremony decides for Intune: one app, the Entra groups it
// is assigned to with an intent each, and what a revocation does. The type is
// the contract's (it is part of the sealed spec) and its rules are the rules
// package's (rules.ValidateIntuneTarget); this package only carries it out.
type (
	Target      = contract.IntuneTarget
	GroupIntent = contract.IntuneGroup
	Intent      = contract.IntuneIntent
	RevokeMode  = contract.IntuneRevoke
)

// Install intents Graph knows. A ceremony's target may use the first three;
// availableWithoutEnrollment is only ever met on assignments Guildhall did not make.
const (
	IntentRequired                          = contract.IntuneRequired
	IntentAvailable                         = contract.IntuneAvailable
	IntentUninstall                         = contract.IntuneUninstall
	IntentAvailableWithoutEnrollment Intent = "availableWithoutEnrollment"
)

// What withdrawing a revoked release does (contract.IntuneRevoke).
const (
	RevokeRemove    = contract.IntuneRevokeRemove
	RevokeUninstall = contract.IntuneRevokeUninstall
)

// validTarget is rules.ValidateIntuneTarget as an error, for the operations
// that need a valid target before they touch Graph.
func validTarget(t Target) error {
	if ps := rules.ValidateIntuneTarget(t); len(ps) > 0 {
		return &Error{Kind: KindInvalid, Message: "invalid Intune target: " + ps.Error()}
	}
	return nil
}
