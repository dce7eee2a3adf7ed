package rules

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// Limits on a directory entry.
const (
	MaxDisplayName = 200
	MaxRolesHeld   = 50
	// MaxReason bounds the reason an admin gives for deactivating someone, and
	// an operator for retiring a web vouching key.
	MaxReason = 500
	// MaxLabel bounds the note that tells a person's keys and API tokens apart.
	MaxLabel = 60
)

// role is a directory role: what templates, quorum policies and the identity
// provider's role map name. Lowercase so that "Security" and "security" cannot
// be two roles.
var role = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$`)

// RoleOK checks a directory role's name.
func RoleOK(r string) error {
	if len(r) > MaxRole || !role.MatchString(r) {
		return fmt.Errorf("%q is not a role name: lowercase letters, digits, '.', '_' and '-', at most %d characters", Clip(r), MaxRole)
	}
	return nil
}

// PersonFields are what an admin types about a person.
type PersonFields struct {
	ID, Name, Email string
	Roles           []string
}

// ValidatePerson lists the problems with a directory entry, keyed by field
// ("id", "name", "email", "roles"). The id is an e-mail address or the
// identity provider's subject: it appears in addresses and on the custody
// chain, so it has no spaces or control characters.
func ValidatePerson(p PersonFields) Problems {
	var ps Problems
	switch {
	case p.ID == "":
		ps.add("id", "is empty: give the person's e-mail address or their identity provider subject")
	case len(p.ID) > MaxPersonID:
		ps.add("id", "longer than %d characters", MaxPersonID)
	case strings.IndexFunc(p.ID, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		ps.add("id", "%q has spaces or control characters", Clip(p.ID))
	}
	switch {
	case len(p.Name) > MaxDisplayName:
		ps.add("name", "longer than %d characters", MaxDisplayName)
	case strings.IndexFunc(p.Name, unicode.IsControl) >= 0:
		ps.add("name", "has control characters")
	}
	if p.Email != "" {
		if a, err := mail.ParseAddress(p.Email); err != nil || a.Address != p.Email || len(p.Email) > MaxPersonID {
			ps.add("email", "%q is not an e-mail address such as ada@example.org", Clip(p.Email))
		}
	}
	if len(p.Roles) > MaxRolesHeld {
		ps.add("roles", "more than %d roles", MaxRolesHeld)
	}
	for _, r := range p.Roles {
		if err := RoleOK(r); err != nil {
			ps.add("roles", "%s", err)
			break
		}
	}
	return ps
}

// ParseRoles reads roles typed as one list, separated by commas or spaces;
// empty items and repeats are dropped.
func ParseRoles(s string) []string {
	var out []string
	for _, r := range strings.FieldsFunc(s, func(c rune) bool { return c == ',' || unicode.IsSpace(c) }) {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// CheckDeactivation lists the problems with deactivating id on by's word,
// keyed by field ("reason", "id"): a reason is required, within MaxReason (it
// goes on the custody chain and to the initiators of the ceremonies that list
// the person), and nobody deactivates themselves (MayDeactivate). Whether the
// directory keeps an admin is KeepsAnAdmin's, checked against the directory as
// the change is written.
func CheckDeactivation(id, by, reason string) Problems {
	var ps Problems
	if p := reasonProblem(reason, "say why, for the custody chain and the ceremonies' initiators"); p != "" {
		ps.add("reason", "%s", p)
	}
	if !MayDeactivate(id, by) {
		ps.add("id", "you cannot deactivate yourself: ask another admin")
	}
	return ps
}

// MayDeactivate reports whether by may deactivate id: anyone but themselves,
// so that an admin cannot shut themselves out by a slip and every
// deactivation is one person's word about another.
func MayDeactivate(id, by string) bool { return id != by }

// KeepsAnAdmin refuses a directory change that would leave nobody active with
// the admin role: nobody could keep the directory or the templates from the
// web then. after is the changed person as they would be.
func KeepsAnAdmin(directory []Person, after Person) error {
	isAdmin := func(p Person) bool { return p.Active && slices.Contains(p.Roles, RoleAdmin) }
	if isAdmin(after) {
		return nil
	}
	for _, p := range directory {
		if p.ID != after.ID && isAdmin(p) {
			return nil
		}
	}
	for _, p := range directory {
		if p.ID == after.ID && isAdmin(p) {
			return fmt.Errorf("%s is the last active admin: make someone else an admin first", after.ID)
		}
	}
	return nil
}
