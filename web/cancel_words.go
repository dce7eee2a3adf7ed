package web

import (
	"strings"

	"github.com/guildhouse/guildhall/contract"
)

// A cancel records how whoever sent it was authenticated (the workflow's
// cancel-assurance change): session or token when the web app vouched for the
// person who withdrew, operator when it came to Temporal some other way, so the
// name it carries is only what its sender typed.

// unvouched is what an operator-assurance signature or cancel is known to be:
// nothing the web app vouched for. It came to Temporal some other way (the
// temporal CLI, a script), or with a vouch that did not check out (a key since
// retired, an altered message); which one, the record cannot say.
const unvouched = "not vouched for by the web app (sent to Temporal directly, or with a vouch that did not check out), so Guildhall authenticated nobody"

// cancelHow says how a cancel's sender was authenticated, e.g. "session ·
// development login"; "" for cancels from before this was recorded.
func cancelHow(level contract.Assurance, method string) string {
	switch level {
	case contract.AssuranceSession, contract.AssuranceToken:
		return string(level) + " · " + assuranceWords(contract.Signature{Assurance: level, AssuranceMethod: method})
	case contract.AssuranceOperator:
		return "operator · " + unvouched
	}
	return ""
}

// cancelledBy says who cancelled and how they were authenticated, for the
// custody chain; "" when the cancel's assurance was not recorded.
func cancelledBy(who string, level contract.Assurance, method string) string {
	switch level {
	case "":
		return ""
	case contract.AssuranceOperator:
		return "cancelled in the name of " + who + " by a cancel " + unvouched + " (assurance: operator)"
	}
	return "cancelled by " + who + " (" + cancelHow(level, method) + ")"
}

// recordedAssurance splits the assurance words a custody event records
// ("session (dev-login)") into level and method.
func recordedAssurance(words string) (contract.Assurance, string) {
	level, method, _ := strings.Cut(strings.TrimSuffix(words, ")"), " (")
	return contract.Assurance(level), method
}
