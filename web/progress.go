package web

import (
	"maps"
	"slices"
	"strings"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/quorum"
	"github.com/guildhouse/guildhall/rules"
)

// progress says where a ceremony stands against its quorum policy, in words.
// The quorum package decides (the workflow runs the same Evaluate on the same
// signatures); this only explains its answer. No count reads "N of M" with
// N > M, and the bar is full only when every requirement is met.
type progress struct {
	Approvals, Threshold, Rejections int
	Count                            string         // "1 of 2 approvals", or "3 approvals (2 needed)"
	Value, Max                       int            // the progress bar
	Met                              bool           // every requirement is met
	Unmet                            []string       // each requirement not met, in words
	Roles                            []roleProgress // roles with a minimum, by name
	Veto                             []string       // roles whose single reject ends the ceremony
	Headline                         string         // where it stands, one sentence
	Next                             string         // what happens next
}

// roleProgress is one line of the policy table: approvals from a role against
// the role's minimum.
type roleProgress struct {
	Role      string
	Min       int
	Approvals int
}

// Missing is how many more approvals the role needs (0 when its minimum is met).
func (p roleProgress) Missing() int { return max(0, p.Min-p.Approvals) }

// Count is the role's approvals against its minimum, never "N of M" with N > M.
func (p roleProgress) Count() string { return countOf(p.Approvals, p.Min) }

// countOf is "1 of 2", or "3 (2 needed)" once there are more than needed.
func countOf(n, of int) string {
	if n > of {
		return itoa(n) + " (" + itoa(of) + " needed)"
	}
	return itoa(n) + " of " + itoa(of)
}

// approvalsCount is a ceremony's approvals against its threshold in words.
func approvalsCount(n, threshold int) string {
	if n > threshold {
		return plural(n, "approval", "approvals") + " (" + itoa(threshold) + " needed)"
	}
	return itoa(n) + " of " + plural(threshold, "approval", "approvals")
}

// summarizeProgress explains st; name turns witness ids into names.
func summarizeProgress(st contract.State, name func(string) string) progress {
	q := st.Spec.Quorum
	res := rules.Tally(st.Spec, st.Signatures)

	p := progress{Approvals: res.Approvals, Threshold: q.Threshold, Rejections: res.Rejections,
		Count: approvalsCount(res.Approvals, q.Threshold), Met: res.Verdict == quorum.Met,
		Veto: slices.Sorted(slices.Values(q.Veto))}
	p.Max, p.Value = max(q.Threshold, 0), min(res.Approvals, max(q.Threshold, 0))
	if missing := q.Threshold - res.Approvals; missing > 0 {
		p.Unmet = append(p.Unmet, plural(missing, "more approval", "more approvals")+" overall ("+approvalsCount(res.Approvals, q.Threshold)+")")
	}
	for _, r := range slices.Sorted(maps.Keys(q.Roles)) {
		rp := roleProgress{Role: r, Min: q.Roles[r], Approvals: res.RoleApprovals[r]}
		if rp.Min <= 0 {
			continue
		}
		p.Roles = append(p.Roles, rp)
		p.Max += rp.Min
		p.Value += min(rp.Approvals, rp.Min)
		if m := rp.Missing(); m > 0 {
			p.Unmet = append(p.Unmet, plural(m, "approval", "approvals")+" from "+r+" ("+rp.Count()+")")
		}
	}
	if p.Met || p.Max == 0 {
		p.Max = max(p.Max, 1)
		p.Value = p.Max
	} else if p.Value >= p.Max {
		p.Value = p.Max - 1 // a requirement the counts do not show (never expected) keeps the bar short of full
	}
	p.Headline, p.Next = standing(st, res, p, name)
	return p
}

// standing is the headline and the next step for the ceremony's status.
func standing(st contract.State, res quorum.Result, p progress, name func(string) string) (string, string) {
	deadline := fmtTime(st.Spec.Deadline)
	switch st.Status {
	case contract.StatusCollecting:
		next := "Witnesses sign until the quorum is met or the deadline passes (" + deadline + ")."
		if len(p.Veto) > 0 {
			next += " A reject from " + orList(p.Veto) + " ends it at once."
		}
		if p.Met {
			return "The quorum is met; the ceremony is closing collection.", next
		}
		return "Collecting signatures: still needs " + andList(p.Unmet) + ".", next
	case contract.StatusQuorumReached:
		next := "No more signatures are needed. The cluster now decides: it seals the release or aborts it, and this page shows which."
		if st.Attention == contract.AttentionSubstrateTimeout {
			next = "No more signatures are needed. The cluster has not decided for over a day, so an operator has been alerted."
		}
		return "Quorum reached: every requirement of the policy is met.", next
	case contract.StatusSealed:
		return "Sealed: the quorum was met and the cluster acted on the decision.", "Nothing more to do. The decision and every signature are on the chain of custody."
	}
	closed := "The ceremony is closed and accepts no more signatures. To decide again, open a new ceremony."
	switch {
	case st.Status == contract.StatusRejected && res.Verdict == quorum.Vetoed:
		var who []string
		for _, s := range st.Signatures {
			if s.Decision == contract.Reject {
				who = append(who, name(s.WitnessID))
			}
		}
		return "Rejected: " + andList(who) + " rejected it, and a reject from " + orList(p.Veto) + " ends the ceremony.", closed
	case st.Status == contract.StatusRejected && res.Verdict == quorum.Impossible:
		return "Rejected: the witnesses who had not signed could no longer meet the quorum (still needed " + andList(p.Unmet) + ").", closed
	case st.Status == contract.StatusExpired && len(p.Unmet) > 0:
		return "Expired: the deadline passed while it still needed " + andList(p.Unmet) + ".", closed
	}
	h := statusLabel(string(st.Status))
	h = strings.ToUpper(h[:1]) + h[1:]
	if st.Reason != "" {
		h += ": " + st.Reason
	}
	return h + ".", closed
}

func andList(s []string) string { return joinList(s, "and") }
func orList(s []string) string  { return joinList(s, "or") }

func joinList(s []string, word string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " " + word + " " + s[len(s)-1]
}

func statusNames() []string {
	out := make([]string, len(contract.Statuses))
	for i, s := range contract.Statuses {
		out[i] = string(s)
	}
	return out
}

func shortHash(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}
