package rules

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/guildhouse/guildhall/contract"
)

// PolicyWords says a quorum policy in plain words, in a fixed order: the
// threshold, each role's minimum, who can veto and the minimum assurance. Two
// policies have the same words exactly when they decide alike, so an amendment
// compares them to tell whether the policy changed.
func PolicyWords(q contract.Quorum) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", q.Threshold, plural(q.Threshold, "approval", "approvals"))
	for _, r := range slices.Sorted(maps.Keys(q.Roles)) {
		fmt.Fprintf(&b, "; at least %d from %s", q.Roles[r], r)
	}
	if len(q.Veto) > 0 {
		veto := slices.Compact(slices.Sorted(slices.Values(q.Veto)))
		fmt.Fprintf(&b, "; a reject from %s ends it", strings.Join(veto, " or "))
	}
	if q.MinAssurance != "" {
		fmt.Fprintf(&b, "; a signature counts only with assurance %s or stronger", q.MinAssurance)
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
