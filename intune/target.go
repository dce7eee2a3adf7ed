package intune

import (
	"fmt"
	"regexp"
	"strings"
)

// Intent is a mobileAppAssignment's install intent (Graph enum installIntent).
type Intent string

// Install intents Graph knows. A ceremony's target may use the first three;
// availableWithoutEnrollment is only ever met on assignments Guildhall did not make.
const (
	IntentRequired                   Intent = "required"
	IntentAvailable                  Intent = "available"
	IntentUninstall                  Intent = "uninstall"
	IntentAvailableWithoutEnrollment Intent = "availableWithoutEnrollment"
)

// TargetIntents are the intents a ceremony may decide for a group.
var TargetIntents = []Intent{IntentRequired, IntentAvailable, IntentUninstall}

// RevokeMode says what withdrawing a revoked release does to the assignments
// Guildhall made for it.
type RevokeMode string

const (
	// RevokeRemove deletes them: Intune stops offering or pushing the app to those
	// groups, but leaves installed copies where they are.
	RevokeRemove RevokeMode = "remove"
	// RevokeUninstall switches them to intent uninstall: Intune removes the app
	// from the devices of those groups.
	RevokeUninstall RevokeMode = "uninstall"
)

// MaxTargetGroups bounds a target: a ceremony names the groups it decides for,
// one by one, and each becomes a line a witness reads.
const MaxTargetGroups = 100

// Target is what a ceremony decides for Intune: one app, the Entra groups it is
// assigned to with an intent each, and what a revocation does. It is part of the
// sealed spec; Guildhall only ever carries it out.
type Target struct {
	// AppID is the Intune mobileApp id (a GUID).
	AppID string `json:"appId"`
	// Groups are the Entra group ids and the intent for each.
	Groups []GroupIntent `json:"groups"`
	// OnRevoke is RevokeRemove or RevokeUninstall.
	OnRevoke RevokeMode `json:"onRevoke"`
}

// GroupIntent is one group of a Target and the intent decided for it.
type GroupIntent struct {
	GroupID string `json:"groupId"`
	Intent  Intent `json:"intent"`
}

// Problem is one thing wrong with a Target, keyed by the JSON path of the field
// relative to the target ("appId", "groups[1].intent").
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (p Problem) String() string { return p.Field + ": " + p.Message }

// guidPattern is the shape of Entra and Intune object ids.
var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsGUID reports whether s has the shape of an Entra/Intune object id.
func IsGUID(s string) bool { return guidPattern.MatchString(s) }

// ValidateTarget checks a target without I/O: GUID-shaped ids, known intents and
// revoke mode, at least one and at most MaxTargetGroups groups, no group twice
// (ids compare case-insensitively, as Entra's do). Nil means valid.
func ValidateTarget(t Target) []Problem {
	var out []Problem
	add := func(field, format string, args ...any) {
		out = append(out, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	switch {
	case strings.TrimSpace(t.AppID) == "":
		add("appId", "is required: the Intune app (mobileApp) id")
	case !IsGUID(t.AppID):
		add("appId", "%q is not an Intune app id (a GUID such as 0177548a-548a-0177-8a54-77018a547701)", t.AppID)
	}
	switch {
	case len(t.Groups) == 0:
		add("groups", "name at least one Entra group")
	case len(t.Groups) > MaxTargetGroups:
		add("groups", "%d groups; at most %d", len(t.Groups), MaxTargetGroups)
	}
	seen := map[string]int{}
	for i, g := range t.Groups {
		field := fmt.Sprintf("groups[%d]", i)
		switch {
		case strings.TrimSpace(g.GroupID) == "":
			add(field+".groupId", "is required: the Entra group id")
		case !IsGUID(g.GroupID):
			add(field+".groupId", "%q is not an Entra group id (a GUID)", g.GroupID)
		default:
			key := strings.ToLower(g.GroupID)
			if j, dup := seen[key]; dup {
				add(field+".groupId", "group %s is already listed at groups[%d]; one intent per group", g.GroupID, j)
			} else {
				seen[key] = i
			}
		}
		if !isTargetIntent(g.Intent) {
			add(field+".intent", "%q is not one of required, available, uninstall", g.Intent)
		}
	}
	if t.OnRevoke != RevokeRemove && t.OnRevoke != RevokeUninstall {
		add("onRevoke", "%q: say what a revocation does, remove (stop assigning) or uninstall (take it off devices)", t.OnRevoke)
	}
	return out
}

func isTargetIntent(i Intent) bool {
	for _, k := range TargetIntents {
		if i == k {
			return true
		}
	}
	return false
}

// validTarget is ValidateTarget as an error, for the operations that need a
// valid target before they touch Graph.
func validTarget(t Target) error {
	ps := ValidateTarget(t)
	if len(ps) == 0 {
		return nil
	}
	words := make([]string, len(ps))
	for i, p := range ps {
		words[i] = p.String()
	}
	return &Error{Kind: KindInvalid, Message: "invalid Intune target: " + strings.Join(words, "; ")}
}
