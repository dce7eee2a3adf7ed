package rules

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/guildhouse/guildhall/contract"
)

// MaxIntuneGroups bounds an Intune target: a ceremony names the groups it
// decides for one by one, and each is a line a witness reads.
const MaxIntuneGroups = 100

// GUID is the shape of Entra and Intune object ids (tenants, apps, groups).
var GUID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsGUID reports whether s has the shape of an Entra or Intune object id.
func IsGUID(s string) bool { return GUID.MatchString(s) }

// ValidateIntuneTarget checks an Intune target without I/O: GUID-shaped ids,
// known intents and revoke mode, one to MaxIntuneGroups groups, no group twice
// (ids compare case-insensitively, as Entra's do). Fields are relative to the
// target ("appId", "groups[1].intent"); nil means valid.
func ValidateIntuneTarget(t contract.IntuneTarget) Problems {
	var ps Problems
	switch {
	case strings.TrimSpace(t.AppID) == "":
		ps.add("appId", "is required: the Intune app (mobileApp) id")
	case !IsGUID(t.AppID):
		ps.add("appId", "%q is not an Intune app id (a GUID such as 0177548a-548a-0177-8a54-77018a547701)", Clip(t.AppID))
	}
	switch {
	case len(t.Groups) == 0:
		ps.add("groups", "name at least one Entra group")
	case len(t.Groups) > MaxIntuneGroups:
		ps.add("groups", "%d groups; at most %d", len(t.Groups), MaxIntuneGroups)
	}
	seen := map[string]int{}
	for i, g := range t.Groups {
		field := fmt.Sprintf("groups[%d]", i)
		switch {
		case strings.TrimSpace(g.GroupID) == "":
			ps.add(field+".groupId", "is required: the Entra group id")
		case !IsGUID(g.GroupID):
			ps.add(field+".groupId", "%q is not an Entra group id (a GUID)", Clip(g.GroupID))
		default:
			key := strings.ToLower(g.GroupID)
			if j, dup := seen[key]; dup {
				ps.add(field+".groupId", "group %s is already listed at groups[%d]; one intent per group", g.GroupID, j)
			} else {
				seen[key] = i
			}
		}
		if !slices.Contains(contract.IntuneIntents, g.Intent) {
			ps.add(field+".intent", "%q is not one of required, available, uninstall", Clip(string(g.Intent)))
		}
	}
	if t.OnRevoke != contract.IntuneRevokeRemove && t.OnRevoke != contract.IntuneRevokeUninstall {
		ps.add("onRevoke", "%q: say what a revocation does, remove (stop assigning) or uninstall (take it off devices)", Clip(string(t.OnRevoke)))
	}
	return ps
}

// intuneProblems checks a spec's Intune target, if any, under "intune.": only a
// release puts an app on devices.
func intuneProblems(kind string, t *contract.IntuneTarget) Problems {
	if t == nil {
		return nil
	}
	ps := refield("", "intune.", ValidateIntuneTarget(*t))
	if kind != contract.KindRelease {
		ps.add("intune", "only a release ceremony carries an Intune target, not a %s", Clip(kind))
	}
	return ps
}

// refield moves problems under another field: a leading from in each field
// becomes to.
func refield(from, to string, ps Problems) Problems {
	for i := range ps {
		ps[i].Field = to + strings.TrimPrefix(ps[i].Field, from)
	}
	return ps
}

// SameIntuneTarget reports whether two targets decide the same: the same app,
// the same intent for each group (in any order, ids case-insensitive), and the
// same revoke mode.
func SameIntuneTarget(a, b *contract.IntuneTarget) bool {
	if a == nil || b == nil {
		return a == b
	}
	if !strings.EqualFold(a.AppID, b.AppID) || a.OnRevoke != b.OnRevoke || len(a.Groups) != len(b.Groups) {
		return false
	}
	for _, g := range a.Groups {
		if !slices.ContainsFunc(b.Groups, func(h contract.IntuneGroup) bool {
			return strings.EqualFold(g.GroupID, h.GroupID) && g.Intent == h.Intent
		}) {
			return false
		}
	}
	return true
}

// IntuneWords says a target in plain words, as witnesses read it: the app, each
// group with what Intune does there, and what a revocation does.
func IntuneWords(t *contract.IntuneTarget) string {
	if t == nil {
		return ""
	}
	groups := make([]string, len(t.Groups))
	for i, g := range t.Groups {
		groups[i] = g.GroupID + " " + intentWords(g.Intent)
	}
	revoke := "its assignments are removed (installed copies stay)"
	if t.OnRevoke == contract.IntuneRevokeUninstall {
		revoke = "it is uninstalled from those groups' devices"
	}
	return fmt.Sprintf("Intune app %s to the groups %s; if the artifact is revoked, %s",
		t.AppID, strings.Join(groups, ", "), revoke)
}

func intentWords(i contract.IntuneIntent) string {
	switch i {
	case contract.IntuneRequired:
		return "(required: installed)"
	case contract.IntuneAvailable:
		return "(available in the Company Portal)"
	case contract.IntuneUninstall:
		return "(uninstall: removed)"
	}
	return "(" + string(i) + ")"
}
