package intune

import (
	"encoding/json"
	"strings"
	"testing"
)

func group(id string, intent Intent) Assignment {
	return Assignment{ID: id + "_x", Intent: intent, Target: GroupTarget(id)}
}

func exclusion(id string) Assignment {
	return Assignment{ID: id + "_ex", Intent: IntentRequired, Target: AssignmentTarget{ODataType: TypeExclusionTarget, GroupID: id}}
}

// applyPlan is what Intune holds after the plan's assign call.
func applyPlan(p Plan) []Assignment {
	out := make([]Assignment, len(p.Assignments))
	for i, a := range p.Assignments {
		// Through JSON, as the wire does.
		b, _ := json.Marshal(a)
		_ = json.Unmarshal(b, &out[i])
	}
	return out
}

func target(onRevoke RevokeMode, gs ...GroupIntent) Target {
	return Target{AppID: appA, Groups: gs, OnRevoke: onRevoke}
}

func TestPlanReleaseIntoEmpty(t *testing.T) {
	tg := target(RevokeRemove, GroupIntent{GroupID: groupA, Intent: IntentRequired}, GroupIntent{GroupID: groupB, Intent: IntentAvailable})
	p := PlanRelease(tg, nil)
	if !p.NeedsAssign() || len(p.Assignments) != 2 || len(p.Changes) != 2 {
		t.Fatalf("plan %+v", p)
	}
	for i, g := range tg.Groups {
		a := p.Assignments[i]
		if a.ID != "" || a.Intent != g.Intent || !a.IncludesGroup(g.GroupID) || a.Settings != nil || p.Changes[i].Kind != ChangeAdd {
			t.Errorf("assignment %d: %+v, change %+v", i, a, p.Changes[i])
		}
	}
	if again := PlanRelease(tg, applyPlan(p)); again.NeedsAssign() || len(again.Changes) != 0 {
		t.Fatalf("second plan is not a no-op: %+v", again.Changes)
	}
}

func TestPlanReleaseKeepsForeignAssignments(t *testing.T) {
	foreign := []Assignment{
		group(groupC, IntentAvailableWithoutEnrollment),
		{ID: "all", Intent: IntentAvailable, Target: AssignmentTarget{ODataType: TypeAllDevicesTarget}},
	}
	foreign[0].Settings = json.RawMessage(`{"@odata.type":"#microsoft.graph.iosStoreAppAssignmentSettings","vpnConfigurationId":"vpn-1"}`)
	tg := target(RevokeRemove, GroupIntent{GroupID: groupA, Intent: IntentRequired})
	p := PlanRelease(tg, foreign)
	if len(p.Assignments) != 3 {
		t.Fatalf("assignments %+v", p.Assignments)
	}
	for i := range foreign {
		got, _ := json.Marshal(p.Assignments[i])
		want, _ := json.Marshal(foreign[i])
		if string(got) != string(want) {
			t.Errorf("foreign assignment %d changed:\n got %s\nwant %s", i, got, want)
		}
	}
	if len(p.Changes) != 1 || p.Changes[0].GroupID != groupA {
		t.Fatalf("changes %+v", p.Changes)
	}
}

func TestPlanReleaseMatchesGroupsNotIDs(t *testing.T) {
	tg := target(RevokeRemove, GroupIntent{GroupID: groupA, Intent: IntentRequired})
	// Intune's id for it is unrelated to anything Guildhall recorded, and the
	// group id comes back upper-cased: still the same group, nothing to do.
	cur := []Assignment{{ID: "whatever-intune-chose", Intent: IntentRequired, Target: GroupTarget(strings.ToUpper(groupA))}}
	if p := PlanRelease(tg, cur); len(p.Changes) != 0 {
		t.Fatalf("changes %+v", p.Changes)
	}
}

func TestPlanReleaseChanges(t *testing.T) {
	tg := target(RevokeRemove, GroupIntent{GroupID: groupA, Intent: IntentRequired}, GroupIntent{GroupID: groupB, Intent: IntentAvailable})
	filtered := group(groupB, IntentAvailable)
	filtered.Target.FilterID, filtered.Target.FilterType = "9f0f4b0e-7c39-4a45-a8b7-2d0c1e2f3a4b", FilterExclude
	settings := json.RawMessage(`{"@odata.type":"#microsoft.graph.win32LobAppAssignmentSettings","notifications":"hideAll"}`)
	changed := group(groupA, IntentAvailable)
	changed.Settings = settings
	cur := []Assignment{changed, filtered, group(groupA, IntentUninstall)}
	p := PlanRelease(tg, cur)
	kinds := []ChangeKind{}
	for _, c := range p.Changes {
		kinds = append(kinds, c.Kind)
	}
	if strings.Join(toStrings(kinds), ",") != "duplicate,intent,filter" {
		t.Fatalf("changes %+v", p.Changes)
	}
	if c := p.Changes[1]; c.From != IntentAvailable || c.To != IntentRequired || !strings.Contains(c.Text, "Intune has available; the ceremony decided required") {
		t.Errorf("intent change %+v", c)
	}
	if len(p.Assignments) != 2 {
		t.Fatalf("assignments %+v", p.Assignments)
	}
	a, b := p.Assignments[0], p.Assignments[1]
	if a.ID != changed.ID || a.Intent != IntentRequired || string(a.Settings) != string(settings) {
		t.Errorf("changed intent lost id or settings: %+v", a)
	}
	if b.Target.Filtered() || b.ID != filtered.ID || !b.IncludesGroup(groupB) {
		t.Errorf("filter not dropped: %+v", b)
	}
	if again := PlanRelease(tg, applyPlan(p)); len(again.Changes) != 0 {
		t.Fatalf("second plan is not a no-op: %+v", again.Changes)
	}
}

func toStrings(ks []ChangeKind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

func TestPlanReleaseConflictWithForeignExclusion(t *testing.T) {
	tg := target(RevokeRemove, GroupIntent{GroupID: groupA, Intent: IntentRequired})
	p := PlanRelease(tg, []Assignment{exclusion(groupA)})
	if p.NeedsAssign() || len(p.Conflicts()) != 1 || !strings.Contains(p.Conflicts()[0].Text, "excluded") {
		t.Fatalf("plan %+v", p)
	}
	// Remove mode asks for no assignment: an exclusion does not stand in its way.
	if r := PlanRevoke(tg, []Assignment{exclusion(groupA), group(groupA, IntentRequired)}); len(r.Conflicts()) != 0 || !r.NeedsAssign() {
		t.Fatalf("revoke plan %+v", r)
	}
}

func TestPlanRevoke(t *testing.T) {
	tg := target(RevokeRemove, GroupIntent{GroupID: groupA, Intent: IntentRequired}, GroupIntent{GroupID: groupB, Intent: IntentAvailable})
	released := applyPlan(PlanRelease(tg, []Assignment{group(groupC, IntentAvailable)}))

	removed := PlanRevoke(tg, released)
	if len(removed.Assignments) != 1 || !removed.Assignments[0].IncludesGroup(groupC) || len(removed.Changes) != 2 {
		t.Fatalf("remove plan %+v", removed)
	}
	for _, c := range removed.Changes {
		if c.Kind != ChangeRemove || c.To != "" || !strings.Contains(c.Text, "the revocation calls for no assignment") {
			t.Errorf("change %+v", c)
		}
	}
	if again := PlanRevoke(tg, applyPlan(removed)); len(again.Changes) != 0 {
		t.Fatalf("second remove is not a no-op: %+v", again.Changes)
	}

	tg.OnRevoke = RevokeUninstall
	un := PlanRevoke(tg, released)
	if len(un.Assignments) != 3 || len(un.Changes) != 2 {
		t.Fatalf("uninstall plan %+v", un)
	}
	for _, a := range un.Assignments[1:] {
		if a.Intent != IntentUninstall {
			t.Errorf("not switched to uninstall: %+v", a)
		}
	}
	if again := PlanRevoke(tg, applyPlan(un)); len(again.Changes) != 0 {
		t.Fatalf("second uninstall is not a no-op: %+v", again.Changes)
	}
	// A group removed by hand before the revocation still gets its uninstall.
	if p := PlanRevoke(tg, released[:2]); len(p.Changes) != 2 || p.Changes[1].Kind != ChangeAdd || p.Changes[1].To != IntentUninstall {
		t.Fatalf("uninstall for a missing group: %+v", p.Changes)
	}
}

func TestDriftInWords(t *testing.T) {
	tg := target(RevokeUninstall, GroupIntent{GroupID: groupA, Intent: IntentRequired}, GroupIntent{GroupID: groupB, Intent: IntentAvailable})
	cur := []Assignment{group(groupA, IntentAvailable)}
	d := Drift(tg, Released, cur)
	if len(d) != 2 {
		t.Fatalf("drift %+v", d)
	}
	for _, want := range []string{
		"group " + groupA + ": Intune has available; the ceremony decided required",
		"group " + groupB + ": Intune has no assignment; the ceremony decided available",
	} {
		if !strings.Contains(d[0].Text+"\n"+d[1].Text, want) {
			t.Errorf("drift does not say %q: %+v", want, d)
		}
	}
	if d := Drift(tg, Released, applyPlan(PlanRelease(tg, cur))); len(d) != 0 {
		t.Fatalf("drift after applying: %+v", d)
	}
	if d := Drift(tg, Revoked, cur); len(d) != 2 || d[0].To != IntentUninstall {
		t.Fatalf("revoked drift %+v", d)
	}
}

func TestManaged(t *testing.T) {
	tg := target(RevokeRemove, GroupIntent{GroupID: groupA, Intent: IntentRequired})
	cur := []Assignment{group(groupB, IntentRequired), exclusion(groupA), group(groupA, IntentRequired)}
	m := Managed(tg, cur)
	if len(m) != 1 || m[0].ID != groupA+"_x" {
		t.Fatalf("managed %+v", m)
	}
}

const (
	appA   = "0177548a-548a-0177-8a54-77018a547701"
	groupA = "11111111-2222-3333-4444-555555555555"
	groupB = "22222222-3333-4444-5555-666666666666"
	groupC = "33333333-4444-5555-6666-777777777777"
)
