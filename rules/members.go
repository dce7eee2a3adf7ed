package rules

import (
	"fmt"
	"slices"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/quorum"
)

// Members are the people whose signatures count, each once: the spec's witness
// entries merged by id with their roles collected, the initiator left out, in
// first-listed order (quorum.Members).
func Members(s contract.Spec) []quorum.Member {
	ids := make([]string, len(s.Witnesses))
	roles := make([]string, len(s.Witnesses))
	for i, w := range s.Witnesses {
		ids[i], roles[i] = w.ID, w.Role
	}
	return quorum.Members(s.Initiator, ids, roles)
}

// Policy is the spec's quorum policy in the quorum package's terms.
func Policy(s contract.Spec) quorum.Policy {
	return quorum.Policy{Threshold: s.Quorum.Threshold, Roles: s.Quorum.Roles, Veto: s.Quorum.Veto}
}

// Pending lists, sorted, the members who have not signed.
func Pending(s contract.Spec, sigs []contract.Signature) []string {
	signed := map[string]bool{}
	for _, sig := range sigs {
		signed[sig.WitnessID] = true
	}
	pending := []string{}
	for _, m := range Members(s) {
		if !signed[m.ID] {
			pending = append(pending, m.ID)
		}
	}
	slices.Sort(pending)
	return pending
}

// Tally applies the spec's policy to the signatures.
func Tally(s contract.Spec, sigs []contract.Signature) quorum.Result {
	votes := make([]quorum.Vote, len(sigs))
	for i, sig := range sigs {
		votes[i] = quorum.Vote{WitnessID: sig.WitnessID, Approve: sig.Decision == contract.Approve}
	}
	return quorum.Evaluate(Policy(s), Members(s), votes)
}

// IsListed reports whether id appears among the spec's witnesses (the initiator
// may be listed too, and still never signs).
func IsListed(s contract.Spec, id string) bool {
	return slices.ContainsFunc(s.Witnesses, func(w contract.WitnessRef) bool { return w.ID == id })
}

// Refusal is why someone may not sign; Code is the `sign` update's rejection code.
type Refusal = contract.Rejection

// Refusal codes of MaySign.
const (
	CodeClosed         = "closed"
	CodeNotAWitness    = "not_a_witness"
	CodeUnknownWitness = "unknown_witness"
	CodeAlreadySigned  = "already_signed"
)

// MaySign says whether witnessID may sign a ceremony in this state now: they are
// one of its members (listed, and not its initiator), have not signed in the
// current epoch, and it is collecting. nil means they may. A person's own
// standing is told before the ceremony's, so someone who signed hears that.
func MaySign(st contract.State, witnessID string) *Refusal {
	switch {
	case witnessID == st.Spec.Initiator:
		return &Refusal{Code: CodeNotAWitness, Reason: "the initiator cannot sign their own ceremony"}
	case !IsListed(st.Spec, witnessID):
		return &Refusal{Code: CodeUnknownWitness, Reason: fmt.Sprintf("%s is not a witness of this ceremony", witnessID)}
	}
	for _, s := range st.Signatures {
		if s.WitnessID == witnessID {
			return &Refusal{Code: CodeAlreadySigned, Reason: fmt.Sprintf("%s already signed (%s) at %s; signatures cannot be changed",
				witnessID, s.Decision, s.SignedAt.UTC().Format(time.RFC3339))}
		}
	}
	if !st.Status.Open() {
		return &Refusal{Code: CodeClosed, Reason: fmt.Sprintf("the ceremony is %s and no longer accepts signatures", st.Status)}
	}
	return nil
}

// Title is the human title of a ceremony: its Title, else "<kind> of <artifact>".
func Title(s contract.Spec) string {
	if s.Title != "" {
		return s.Title
	}
	return s.Kind + " of " + s.Artifact.Name
}

// WitnessIDs lists the distinct ids the spec lists as witnesses, in first-listed
// order (the initiator included when listed: for display, not for counting).
func WitnessIDs(s contract.Spec) []string {
	out := []string{}
	for _, w := range s.Witnesses {
		if !slices.Contains(out, w.ID) {
			out = append(out, w.ID)
		}
	}
	return out
}
