package intune

import (
	"fmt"
	"strings"
)

// ChangeKind names one difference between what a ceremony decided and what
// Intune has.
type ChangeKind string

const (
	// ChangeAdd: a target group has no assignment; one is added.
	ChangeAdd ChangeKind = "add"
	// ChangeIntent: a target group is assigned with another intent; it is set.
	ChangeIntent ChangeKind = "intent"
	// ChangeFilter: an assignment filter narrows a target group's assignment; the
	// ceremony decided the whole group, so the filter is dropped.
	ChangeFilter ChangeKind = "filter"
	// ChangeDuplicate: a target group is included twice; the extra is dropped.
	ChangeDuplicate ChangeKind = "duplicate"
	// ChangeRemove: a revoked release still has an assignment; it is removed.
	ChangeRemove ChangeKind = "remove"
	// ChangeConflict: an assignment Guildhall did not make excludes a target
	// group. Guildhall does not override someone else's exclusion: nothing is
	// posted until a person resolves it.
	ChangeConflict ChangeKind = "conflict"
)

// Change is one difference, in plain words. As a plan it is what the assign
// call will change; from the drift check it is what differs.
type Change struct {
	Kind    ChangeKind `json:"kind"`
	GroupID string     `json:"groupId"`
	// From and To are the intents before and after ("" = no assignment).
	From Intent `json:"from,omitempty"`
	To   Intent `json:"to,omitempty"`
	Text string `json:"text"`
}

// Plan is the result of comparing a decision with the assignments Intune has.
type Plan struct {
	AppID string `json:"appId"`
	// Assignments is the complete set to POST to …/assign: the assignments
	// Guildhall does not manage, unchanged and in their order, then the target's.
	Assignments []Assignment `json:"assignments"`
	// Changes lists the differences; none means Intune already matches and
	// nothing is posted.
	Changes []Change `json:"changes"`
}

// NeedsAssign reports whether an assign call is needed.
func (p Plan) NeedsAssign() bool { return len(p.Changes) > 0 && len(p.Conflicts()) == 0 }

// Conflicts are the changes Guildhall may not make by itself.
func (p Plan) Conflicts() []Change {
	var out []Change
	for _, c := range p.Changes {
		if c.Kind == ChangeConflict {
			out = append(out, c)
		}
	}
	return out
}

// PlanRelease computes the assignments that carry out a sealed release: every target
// group included with the decided intent, as a whole group. Which assignments
// Guildhall manages is decided by group, not by assignment id: the group
// assignments (groupAssignmentTarget) of the target's groups are Guildhall's,
// because the sealed ceremony decided them; everything else (other groups,
// exclusions, all users, all devices) is someone else's and is carried through
// unchanged. Intune may issue new assignment ids on every assign, so ids are
// recorded as evidence but never used to recognise an assignment.
// Settings of an existing assignment are kept: a ceremony decides who gets the
// app and how (intent), not its install options.
func PlanRelease(t Target, current []Assignment) Plan {
	want := make([]Intent, len(t.Groups))
	for i, g := range t.Groups {
		want[i] = g.Intent
	}
	return reconcile(t, current, want, "the ceremony decided")
}

// PlanRevoke computes the assignments that withdraw a revoked release: the
// target groups' assignments are removed (RevokeRemove) or set to uninstall
// (RevokeUninstall), whatever their intent was; nothing else changes.
func PlanRevoke(t Target, current []Assignment) Plan {
	want := make([]Intent, len(t.Groups))
	if t.OnRevoke == RevokeUninstall {
		for i := range want {
			want[i] = IntentUninstall
		}
	}
	return reconcile(t, current, want, "the revocation calls for")
}

// PlanFor is PlanRelease or PlanRevoke, by decision.
func PlanFor(t Target, d Decision, current []Assignment) Plan {
	if d == Revoked {
		return PlanRevoke(t, current)
	}
	return PlanRelease(t, current)
}

// Drift lists, in plain words, how the assignments Intune reports differ from
// what the decision calls for (empty: none). It is exactly what an assign call
// would change, so "no drift" and "nothing to post" are the same thing.
func Drift(t Target, d Decision, current []Assignment) []Change {
	return PlanFor(t, d, current).Changes
}

// reconcile builds the assign set for want[i] per t.Groups[i] ("" = no assignment).
func reconcile(t Target, current []Assignment, want []Intent, why string) Plan {
	p := Plan{AppID: t.AppID}
	managed := make([]*Assignment, len(t.Groups)) // the first current include of each target group
	for _, a := range current {
		i := groupIndex(t, a)
		if i < 0 {
			p.Assignments = append(p.Assignments, a)
			continue
		}
		if managed[i] != nil {
			p.Changes = append(p.Changes, Change{Kind: ChangeDuplicate, GroupID: t.Groups[i].GroupID, From: a.Intent,
				Text: fmt.Sprintf("group %s is assigned twice (%s and %s); one assignment is dropped", t.Groups[i].GroupID, managed[i].Intent, a.Intent)})
			continue
		}
		managed[i] = &a
	}
	for i, g := range t.Groups {
		if want[i] != "" {
			for _, a := range current {
				if a.ExcludesGroup(g.GroupID) {
					p.Changes = append(p.Changes, Change{Kind: ChangeConflict, GroupID: g.GroupID, To: want[i],
						Text: fmt.Sprintf("group %s is excluded from this app by an assignment Guildhall did not make, but %s %s; remove the exclusion in Intune or amend the ceremony", g.GroupID, why, want[i])})
					break
				}
			}
		}
		have := managed[i]
		switch {
		case have == nil && want[i] == "":
		case have == nil:
			p.Changes = append(p.Changes, Change{Kind: ChangeAdd, GroupID: g.GroupID, To: want[i],
				Text: fmt.Sprintf("group %s: Intune has no assignment; %s %s", g.GroupID, why, want[i])})
			p.Assignments = append(p.Assignments, Assignment{Intent: want[i], Target: GroupTarget(g.GroupID)})
		case want[i] == "":
			p.Changes = append(p.Changes, Change{Kind: ChangeRemove, GroupID: g.GroupID, From: have.Intent,
				Text: fmt.Sprintf("group %s: Intune has %s; %s no assignment", g.GroupID, have.Intent, why)})
		default:
			next := *have
			if have.Intent != want[i] {
				p.Changes = append(p.Changes, Change{Kind: ChangeIntent, GroupID: g.GroupID, From: have.Intent, To: want[i],
					Text: fmt.Sprintf("group %s: Intune has %s; %s %s", g.GroupID, have.Intent, why, want[i])})
				next.Intent = want[i]
			}
			if have.Target.Filtered() {
				p.Changes = append(p.Changes, Change{Kind: ChangeFilter, GroupID: g.GroupID, From: have.Intent, To: want[i],
					Text: fmt.Sprintf("group %s: an assignment filter (%s %s) narrows it to some devices; %s the whole group", g.GroupID, strings.ToLower(have.Target.FilterType), have.Target.FilterID, why)})
				next.Target = GroupTarget(have.Target.GroupID)
			}
			p.Assignments = append(p.Assignments, next)
		}
	}
	return p
}

// groupIndex is the index of the target group a includes, or -1.
func groupIndex(t Target, a Assignment) int {
	for i, g := range t.Groups {
		if a.IncludesGroup(g.GroupID) {
			return i
		}
	}
	return -1
}

// Managed returns the assignments among current that Guildhall manages for t
// (the group assignments of its groups), for the record.
func Managed(t Target, current []Assignment) []Assignment {
	var out []Assignment
	for _, a := range current {
		if groupIndex(t, a) >= 0 {
			out = append(out, a)
		}
	}
	return out
}
