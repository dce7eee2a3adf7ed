package intune

import (
	"fmt"
	"strings"
	"testing"
)

const (
	appA   = "0177548a-548a-0177-8a54-77018a547701"
	groupA = "11111111-2222-3333-4444-555555555555"
	groupB = "22222222-3333-4444-5555-666666666666"
	groupC = "33333333-4444-5555-6666-777777777777"
)

func TestValidateTarget(t *testing.T) {
	good := Target{AppID: appA, Groups: []GroupIntent{{groupA, IntentRequired}, {groupB, IntentAvailable}}, OnRevoke: RevokeUninstall}
	if ps := ValidateTarget(good); ps != nil {
		t.Fatalf("valid target refused: %v", ps)
	}
	many := make([]GroupIntent, MaxTargetGroups+1)
	for i := range many {
		many[i] = GroupIntent{fmt.Sprintf("00000000-0000-0000-0000-%012d", i), IntentRequired}
	}
	cases := []struct {
		name   string
		mutate func(*Target)
		field  string
		words  string
	}{
		{"no app", func(t *Target) { t.AppID = "" }, "appId", "required"},
		{"app not a guid", func(t *Target) { t.AppID = "contoso-vpn" }, "appId", "not an Intune app id"},
		{"no groups", func(t *Target) { t.Groups = nil }, "groups", "at least one"},
		{"too many groups", func(t *Target) { t.Groups = many }, "groups", "at most 100"},
		{"empty group id", func(t *Target) { t.Groups[1].GroupID = " " }, "groups[1].groupId", "required"},
		{"group not a guid", func(t *Target) { t.Groups[0].GroupID = "sg-release-ring-1" }, "groups[0].groupId", "not an Entra group id"},
		{"duplicate group, other case", func(t *Target) { t.Groups[1].GroupID = strings.ToUpper(groupA) }, "groups[1].groupId", "already listed at groups[0]"},
		{"unknown intent", func(t *Target) { t.Groups[0].Intent = "install" }, "groups[0].intent", "not one of"},
		{"availableWithoutEnrollment is not a ceremony intent", func(t *Target) { t.Groups[0].Intent = IntentAvailableWithoutEnrollment }, "groups[0].intent", "not one of"},
		{"no revoke mode", func(t *Target) { t.OnRevoke = "" }, "onRevoke", "remove"},
		{"unknown revoke mode", func(t *Target) { t.OnRevoke = "delete" }, "onRevoke", "uninstall"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := good
			tg.Groups = append([]GroupIntent(nil), good.Groups...)
			c.mutate(&tg)
			ps := ValidateTarget(tg)
			for _, p := range ps {
				if p.Field == c.field && strings.Contains(p.Message, c.words) {
					return
				}
			}
			t.Fatalf("want a problem at %s saying %q, got %v", c.field, c.words, ps)
		})
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
