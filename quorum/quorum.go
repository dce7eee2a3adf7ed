// Package quorum evaluates a ceremony's quorum policy. It is pure Go with no
// Temporal imports, so workflows call it deterministically and tests and fuzzers
// exercise it directly.
//
// The rules: Threshold approvals overall, at least Roles[r] approvals from
// witnesses holding role r (all minimums must hold), each person counted once even
// when listed with several roles, the initiator never counts, and a single reject
// by a witness holding a Veto role ends the ceremony. As soon as the witnesses who
// have not signed can no longer reach the quorum, the verdict is Impossible.
package quorum

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Policy is the quorum policy.
type Policy struct {
	Threshold int
	Roles     map[string]int
	Veto      []string
}

// Member is a witness with all the roles they hold in this ceremony.
type Member struct {
	ID    string
	Roles []string
}

// Vote is a signed decision.
type Vote struct {
	WitnessID string
	Approve   bool
}

// Verdict is the outcome so far.
type Verdict string

// Verdicts, from open to closed.
const (
	Pending    Verdict = "pending"
	Met        Verdict = "met"
	Vetoed     Verdict = "vetoed"
	Impossible Verdict = "impossible"
)

// Rank orders verdicts from worst to best for a ceremony that wants to pass:
// Vetoed < Impossible < Pending < Met. An extra approval never lowers the rank and
// an extra reject never raises it (the fuzz target checks both).
func (v Verdict) Rank() int {
	switch v {
	case Vetoed:
		return 0
	case Impossible:
		return 1
	case Pending:
		return 2
	case Met:
		return 3
	}
	return -1
}

// Decided reports whether the verdict ends collecting.
func (v Verdict) Decided() bool { return v != Pending }

// Result is a verdict with the counts behind it.
type Result struct {
	Verdict    Verdict
	Approvals  int
	Rejections int
	// RoleApprovals counts approvals per role named in the policy.
	RoleApprovals map[string]int
	Reason        string
}

// Members merges witness entries by id, collecting roles and dropping the
// initiator, in first-listed order.
func Members(initiator string, ids, roles []string) []Member {
	var out []Member
	index := map[string]int{}
	for i, id := range ids {
		if id == "" || id == initiator {
			continue
		}
		j, ok := index[id]
		if !ok {
			j = len(out)
			index[id] = j
			out = append(out, Member{ID: id})
		}
		if r := roles[i]; r != "" && !slices.Contains(out[j].Roles, r) {
			out[j].Roles = append(out[j].Roles, r)
		}
	}
	return out
}

// Evaluate applies p to the votes of members. Votes of non-members and second
// votes of a member are ignored.
func Evaluate(p Policy, members []Member, votes []Vote) Result {
	byID := make(map[string]Member, len(members))
	for _, m := range members {
		byID[m.ID] = m
	}
	res := Result{RoleApprovals: map[string]int{}}
	voted := map[string]bool{}
	var vetoedBy []string
	for _, v := range votes {
		m, ok := byID[v.WitnessID]
		if !ok || voted[v.WitnessID] {
			continue
		}
		voted[v.WitnessID] = true
		if !v.Approve {
			res.Rejections++
			if holdsAny(m, p.Veto) {
				vetoedBy = append(vetoedBy, v.WitnessID)
			}
			continue
		}
		res.Approvals++
		for _, r := range m.Roles {
			if _, named := p.Roles[r]; named {
				res.RoleApprovals[r]++
			}
		}
	}
	if len(vetoedBy) > 0 {
		// Sorted, so the reason does not depend on the order people signed in.
		sort.Strings(vetoedBy)
		res.Verdict, res.Reason = Vetoed, fmt.Sprintf("vetoed by %s", strings.Join(vetoedBy, ", "))
		return res
	}
	if short := shortRoles(p, res.RoleApprovals); res.Approvals >= p.Threshold && len(short) == 0 {
		res.Verdict = Met
		return res
	}
	if reason := impossible(p, members, voted, res); reason != "" {
		res.Verdict, res.Reason = Impossible, reason
		return res
	}
	res.Verdict = Pending
	return res
}

// impossible explains why the remaining witnesses cannot reach quorum, or "".
func impossible(p Policy, members []Member, voted map[string]bool, res Result) string {
	remaining := 0
	roleRemaining := map[string]int{}
	for _, m := range members {
		if voted[m.ID] {
			continue
		}
		remaining++
		for _, r := range m.Roles {
			roleRemaining[r]++
		}
	}
	if res.Approvals+remaining < p.Threshold {
		return fmt.Sprintf("quorum impossible: %d approvals needed, at most %d reachable", p.Threshold, res.Approvals+remaining)
	}
	for _, r := range slices.Sorted(maps.Keys(p.Roles)) {
		if res.RoleApprovals[r]+roleRemaining[r] < p.Roles[r] {
			return fmt.Sprintf("quorum impossible: role %s needs %d approvals, at most %d reachable", r, p.Roles[r], res.RoleApprovals[r]+roleRemaining[r])
		}
	}
	return ""
}

// shortRoles lists, sorted, the roles whose minimum is not met yet.
func shortRoles(p Policy, got map[string]int) []string {
	var out []string
	for _, r := range slices.Sorted(maps.Keys(p.Roles)) {
		if got[r] < p.Roles[r] {
			out = append(out, r)
		}
	}
	return out
}

func holdsAny(m Member, roles []string) bool {
	for _, r := range m.Roles {
		if slices.Contains(roles, r) {
			return true
		}
	}
	return false
}
