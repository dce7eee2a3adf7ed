package web

import (
	"strings"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
)

// signedHow says how a signer was authenticated, from the assurance the
// signature.accepted event recorded ("session (oidc)"). Events from before
// assurance was recorded say so rather than guess.
func signedHow(assurance string, proof *contract.Proof) string {
	level, method := recordedAssurance(assurance)
	switch level {
	case contract.AssuranceKey:
		if method == "passkey" {
			return "with a passkey (assurance: key)"
		}
		return "with a registered " + method + " key (assurance: key)"
	case contract.AssuranceSession:
		return "in a web login (" + method + ") the web app vouched for (assurance: session)"
	case contract.AssuranceToken:
		return "with an API token the web app vouched for (assurance: token)"
	case contract.AssuranceOperator:
		return unvouched + " (assurance: operator)"
	}
	switch {
	case proof != nil && proof.Type == "webauthn":
		return "with a passkey (from before assurance was recorded)"
	case proof != nil && proof.Type != "":
		return "with an " + proof.Type + " key (from before assurance was recorded)"
	}
	return "without a key (from before assurance was recorded: how the signer was authenticated is not known)"
}

// directorySummary says in words what a directory, template or web-key event
// recorded; ok is false for other types.
func directorySummary(typ string, str func(string) string, strs func(string) []string) (string, bool) {
	who := str("witnessId")
	by := ""
	if b := str("by"); b != "" {
		by = " by " + b
	}
	roles := func(k string) string {
		if r := strs(k); len(r) > 0 {
			return strings.Join(r, ", ")
		}
		return "none"
	}
	switch typ {
	case custody.TypeWitnessAdded:
		return who + " added to the directory" + by + " with roles " + roles("roles") + idpRolesWords(strs("identityProviderRoles")), true
	case custody.TypeWitnessChanged:
		return who + " changed" + by + ": " + strings.Join(strs("changes"), "; "), true
	case custody.TypeWitnessDeactivated:
		s := who + " deactivated" + by
		if r := str("reason"); r != "" {
			s += ": " + r
		}
		return s, true
	case custody.TypeWitnessReactivated:
		return who + " reactivated" + by, true
	case custody.TypeWitnessSynced:
		return who + "'s roles from the identity provider: [" + strings.Join(strs("from"), ", ") + "] → [" + strings.Join(strs("to"), ", ") + "]", true
	case custody.TypeTemplateApplied:
		return "template " + str("name") + " version saved" + by, true
	case custody.TypeWebKeyRegistered:
		return "web vouching key registered (key id " + str("keyId") + ")", true
	case custody.TypeWebKeyRetired:
		s := "web vouching key " + str("keyId") + " retired" + by + ": its vouches no longer count"
		if r := str("reason"); r != "" {
			s += " (" + r + ")"
		}
		return s, true
	}
	return "", false
}

func idpRolesWords(r []string) string {
	if len(r) == 0 {
		return ""
	}
	return " (from the identity provider: " + strings.Join(r, ", ") + ")"
}
