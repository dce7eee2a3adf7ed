package rules

import (
	"fmt"
	"slices"

	"github.com/guildhouse/guildhall/contract"
)

// Refusal codes of the directory and assurance rules.
const (
	CodeAssuranceTooLow = "assurance_too_low"
	CodeDeactivated     = "deactivated"
	CodeRoleNotHeld     = "role_not_held"
)

// AssuranceRank orders assurance levels, weakest (0, operator) first; -1 for an
// unknown level.
func AssuranceRank(a contract.Assurance) int { return slices.Index(contract.Assurances, a) }

// AssuranceOK checks a minimum assurance: empty, or one of the levels.
func AssuranceOK(a contract.Assurance) error {
	if a != "" && AssuranceRank(a) < 0 {
		return fmt.Errorf("%q is not one of operator, token, session, key", Clip(string(a)))
	}
	return nil
}

// MeetsAssurance refuses a signature made with a weaker assurance than the
// policy's minimum, saying what the witness can do about it.
func MeetsAssurance(q contract.Quorum, got contract.Assurance) *Refusal {
	if q.MinAssurance == "" || AssuranceRank(got) >= AssuranceRank(q.MinAssurance) {
		return nil
	}
	how := "sign in the web app or with an API token"
	if q.MinAssurance == contract.AssuranceKey {
		how = "sign with a registered passkey (Account page) or ed25519 key (guildhall sign)"
	}
	return &Refusal{Code: CodeAssuranceTooLow, Reason: fmt.Sprintf(
		"this ceremony needs %s assurance and this signature has %s: %s", q.MinAssurance, orOperator(got), how)}
}

func orOperator(a contract.Assurance) contract.Assurance {
	if a == "" {
		return contract.AssuranceOperator
	}
	return a
}

// Standing is a person's entry in the directory as far as signing goes.
type Standing struct {
	Known  bool // the directory has them
	Active bool
	Roles  []string
}

// MayStillSign refuses a signer the directory no longer backs: deactivated, or
// no longer holding a role the ceremony lists them with (their identity
// provider's groups changed). People the directory does not know are not
// refused here: ceremonies opened by script or from the cluster may name them,
// and their signatures' assurance says how they were authenticated.
func MayStillSign(s contract.Spec, witnessID string, d Standing) *Refusal {
	if !d.Known {
		return nil
	}
	if !d.Active {
		return &Refusal{Code: CodeDeactivated, Reason: fmt.Sprintf("%s is deactivated in the directory and cannot sign", witnessID)}
	}
	for _, w := range s.Witnesses {
		if w.ID == witnessID && w.Role != "" && !slices.Contains(d.Roles, w.Role) {
			return &Refusal{Code: CodeRoleNotHeld, Reason: fmt.Sprintf(
				"%s is listed as %s but no longer holds that role in the directory; ask the initiator to amend the ceremony", witnessID, w.Role)}
		}
	}
	return nil
}
