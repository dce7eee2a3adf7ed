package rules

import (
	"fmt"
	"strings"
	"testing"

	"github.com/guildhouse/guildhall/contract"
)

const (
	appA   = "0177548a-548a-0177-8a54-77018a547701"
	groupA = "11111111-2222-3333-4444-555555555555"
	groupB = "22222222-3333-4444-5555-666666666666"
)

func goodTarget() contract.IntuneTarget {
	return contract.IntuneTarget{AppID: appA, OnRevoke: contract.IntuneRevokeUninstall,
		Groups: []contract.IntuneGroup{{GroupID: groupA, Intent: contract.IntuneRequired}, {GroupID: groupB, Intent: contract.IntuneAvailable}}}
}

func TestValidateIntuneTarget(t *testing.T) {
	if ps := ValidateIntuneTarget(goodTarget()); ps != nil {
		t.Fatalf("valid target refused: %v", ps)
	}
	many := make([]contract.IntuneGroup, MaxIntuneGroups+1)
	for i := range many {
		many[i] = contract.IntuneGroup{GroupID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i), Intent: contract.IntuneRequired}
	}
	cases := []struct {
		name   string
		mutate func(*contract.IntuneTarget)
		field  string
		words  string
	}{
		{"no app", func(t *contract.IntuneTarget) { t.AppID = "" }, "appId", "required"},
		{"app not a guid", func(t *contract.IntuneTarget) { t.AppID = "contoso-vpn" }, "appId", "not an Intune app id"},
		{"no groups", func(t *contract.IntuneTarget) { t.Groups = nil }, "groups", "at least one"},
		{"too many groups", func(t *contract.IntuneTarget) { t.Groups = many }, "groups", "at most 100"},
		{"empty group id", func(t *contract.IntuneTarget) { t.Groups[1].GroupID = " " }, "groups[1].groupId", "required"},
		{"group not a guid", func(t *contract.IntuneTarget) { t.Groups[0].GroupID = "sg-release-ring-1" }, "groups[0].groupId", "not an Entra group id"},
		{"duplicate group, other case", func(t *contract.IntuneTarget) { t.Groups[1].GroupID = strings.ToUpper(groupA) }, "groups[1].groupId", "already listed at groups[0]"},
		{"unknown intent", func(t *contract.IntuneTarget) { t.Groups[0].Intent = "install" }, "groups[0].intent", "not one of"},
		{"availableWithoutEnrollment is not a ceremony intent", func(t *contract.IntuneTarget) { t.Groups[0].Intent = "availableWithoutEnrollment" }, "groups[0].intent", "not one of"},
		{"no revoke mode", func(t *contract.IntuneTarget) { t.OnRevoke = "" }, "onRevoke", "remove"},
		{"unknown revoke mode", func(t *contract.IntuneTarget) { t.OnRevoke = "delete" }, "onRevoke", "uninstall"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := goodTarget()
			c.mutate(&tg)
			ps := ValidateIntuneTarget(tg)
			for _, p := range ps {
				if p.Field == c.field && strings.Contains(p.Message, c.words) {
					return
				}
			}
			t.Fatalf("want a problem at %s saying %q, got %v", c.field, c.words, ps)
		})
	}
}

// A spec's target is checked with the spec, under "intune.", and only a
// release may carry one.
func TestValidateSpecIntune(t *testing.T) {
	s := good()
	tg := goodTarget()
	s.Intune = &tg
	if ps := ValidateSpec(s, now); ps != nil {
		t.Fatalf("release with a valid target refused: %v", ps)
	}
	tg.Groups[1].Intent = "install"
	if ps := ValidateSpec(s, now).On("intune.groups[1].intent"); len(ps) != 1 {
		t.Fatalf("bad intent: %v", ValidateSpec(s, now))
	}
	tg = goodTarget()
	s.Kind = contract.KindRatification
	if ps := ValidateSpec(s, now).On("intune"); len(ps) != 1 || !strings.Contains(ps[0].Message, "only a release") {
		t.Fatalf("ratification with a target: %v", ValidateSpec(s, now))
	}
	// Checked even when the spec is to be completed from its template.
	s = good()
	s.Witnesses, s.Quorum, s.Template = nil, contract.Quorum{}, &contract.TemplateRef{Name: "release"}
	s.Intune = &contract.IntuneTarget{AppID: "x"}
	if ps := ValidateSpec(s, now).On("intune"); len(ps) < 3 {
		t.Fatalf("template-only spec with a bad target: %v", ValidateSpec(s, now))
	}
}

func TestTemplateIntune(t *testing.T) {
	tg := goodTarget()
	tmpl := Template{Name: "vpn-release", Kind: contract.KindRelease, Witnesses: TemplateWitnesses{Roles: []string{"security"}, People: []contract.WitnessRef{{ID: "bob"}}},
		Quorum: contract.Quorum{Threshold: 1}, OpenedBy: []string{"release"}, Intune: &tg}
	if ps := ValidateTemplate(tmpl); ps != nil {
		t.Fatalf("template with a target refused: %v", ps)
	}
	spec := Resolve(tmpl, 2, []Person{{ID: "alice", Roles: []string{"security"}, Active: true}}, contract.Spec{Initiator: "ivy"})
	if !SameIntuneTarget(spec.Intune, &tg) {
		t.Fatalf("resolved spec's target %+v", spec.Intune)
	}
	spec.Intune.Groups[0].Intent = contract.IntuneUninstall
	if tmpl.Intune.Groups[0].Intent != contract.IntuneRequired {
		t.Fatal("Resolve shares the template's groups with the spec")
	}
	// A spec naming the template may not set a target of its own, nor be of another kind.
	other := goodTarget()
	other.OnRevoke = contract.IntuneRevokeRemove
	for _, c := range []struct {
		spec contract.Spec
		want string
	}{
		{contract.Spec{Kind: contract.KindRelease}, ""},
		{contract.Spec{Kind: contract.KindRelease, Intune: &tg}, ""},
		{contract.Spec{Kind: contract.KindRelease, Intune: &other}, "leave the spec's intune target out"},
		{contract.Spec{Kind: contract.KindKeyRotation}, "is for release ceremonies, not key-rotation"},
	} {
		if got := TemplateMisfit(tmpl, c.spec); (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("TemplateMisfit(%s, intune %v) = %q, want %q", c.spec.Kind, c.spec.Intune != nil, got, c.want)
		}
	}
	tmpl.Kind = contract.KindKeyRotation
	if ps := ValidateTemplate(tmpl).On("intune"); len(ps) != 1 {
		t.Fatalf("key-rotation template with a target: %v", ValidateTemplate(tmpl))
	}
}

func TestSameIntuneTargetAndWords(t *testing.T) {
	a, b := goodTarget(), goodTarget()
	b.Groups[0], b.Groups[1] = b.Groups[1], b.Groups[0]
	b.AppID = strings.ToUpper(b.AppID)
	if !SameIntuneTarget(&a, &b) || !SameIntuneTarget(nil, nil) || SameIntuneTarget(&a, nil) {
		t.Fatal("same targets compare unequal (order, case) or nil mishandled")
	}
	b.Groups[0].Intent = contract.IntuneRequired
	if SameIntuneTarget(&a, &b) {
		t.Fatal("a changed intent compares equal")
	}
	w := IntuneWords(&a)
	for _, want := range []string{appA, groupA + " (required: installed)", groupB + " (available in the Company Portal)", "uninstalled"} {
		if !strings.Contains(w, want) {
			t.Errorf("words %q lack %q", w, want)
		}
	}
}

func TestIsGUID(t *testing.T) {
	for s, want := range map[string]bool{
		appA: true, strings.ToUpper(appA): true, "": false, appA + "0": false,
		"0177548a548a01778a5477018a547701": false, "{" + appA + "}": false, "0177548a-548a-0177-8a54-77018a54770g": false,
	} {
		if IsGUID(s) != want {
			t.Errorf("IsGUID(%q) = %v", s, !want)
		}
	}
}
