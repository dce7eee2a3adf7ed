package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/guildhouse/guildhall/contract"
)

// MaxTemplateName bounds a template's name.
const MaxTemplateName = 63

// TemplateNameOK reports whether name is a template name: lowercase letters,
// digits and dashes, starting and ending with a letter or digit, at most
// MaxTemplateName (a DNS label). The template's own check and a spec naming a
// template both use it, and the Ceremony CRD's pattern states it.
func TemplateNameOK(name string) bool {
	return len(name) <= MaxTemplateName && dnsLabel.MatchString(name)
}

// Template is an approval team: a named, versioned policy a ceremony is opened
// from. Witnesses are chosen by role (everyone active in the directory holding
// it when the ceremony opens) and by name; the initiator never counts.
type Template struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Kind        string            `json:"kind"`
	Witnesses   TemplateWitnesses `json:"witnesses"`
	Quorum      contract.Quorum   `json:"quorum"`
	// Deadline is how long a ceremony opened from it stays open by default, as
	// a Go duration ("72h") or days ("7d").
	Deadline string `json:"deadline,omitempty"`
	// OpenedBy lists who may open a ceremony from it: roles, or people by id.
	// An admin always may.
	OpenedBy []string `json:"openedBy"`
	// Intune, on a release template, fixes where its releases go in Intune (a
	// release team's app and groups); without it, whoever opens a release may
	// name a target.
	Intune *contract.IntuneTarget `json:"intune,omitempty"`
}

// TemplateWitnesses chooses a template's witnesses.
type TemplateWitnesses struct {
	Roles  []string              `json:"roles,omitempty"`
	People []contract.WitnessRef `json:"people,omitempty"`
}

// Person is a directory entry as templates see it.
type Person struct {
	ID     string
	Roles  []string
	Active bool
}

// RoleAdmin is the role that keeps the directory and the templates and may
// withdraw any ceremony.
const RoleAdmin = "admin"

// RoleReader lets a person read ceremonies, evidence and the chain and nothing
// more; any other role lets them read too.
const RoleReader = "reader"

// DefaultDeadline is a template's deadline when it names none.
const DefaultDeadline = 72 * time.Hour

// ValidateTemplate lists the problems with a template, keyed by field.
func ValidateTemplate(t Template) Problems {
	var ps Problems
	if !TemplateNameOK(t.Name) {
		ps.add("name", "%q is not a template name: lowercase letters, digits and dashes, at most %d", Clip(t.Name), MaxTemplateName)
	}
	if !kindOK(t.Kind) {
		ps.add("kind", "%q is not one of %s", Clip(t.Kind), strings.Join(contract.Kinds, ", "))
	}
	if len(t.Description) > MaxDescription {
		ps.add("description", "longer than %d characters", MaxDescription)
	}
	if len(t.Witnesses.Roles) == 0 && len(t.Witnesses.People) == 0 {
		ps.add("witnesses", "name roles or people")
	}
	for i, r := range t.Witnesses.Roles {
		if err := RoleOK(r); err != nil {
			ps.add(fmt.Sprintf("witnesses.roles[%d]", i), "%s", err)
		}
	}
	if len(t.Witnesses.People) > 0 { // roles alone are enough
		ps = append(ps, refield("witnesses", "witnesses.people", witnessProblems(t.Witnesses.People))...)
	}
	ps = append(ps, policyProblems(t.Quorum)...)
	if _, err := TemplateDeadline(t.Deadline); err != nil {
		ps.add("deadline", "%s", err)
	}
	if len(t.OpenedBy) == 0 {
		ps.add("openedBy", "name the roles or people who may open ceremonies from it (admins always may)")
	}
	ps = append(ps, intuneProblems(t.Kind, t.Intune)...)
	return ps
}

// TemplateDeadline reads a template's default deadline: a Go duration or a
// number of days ("7d"); empty is DefaultDeadline.
func TemplateDeadline(s string) (time.Duration, error) {
	if s == "" {
		return DefaultDeadline, nil
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err = fmt.Sscanf(days, "%d", &n); err == nil {
			d = time.Duration(n) * 24 * time.Hour
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q is not a duration such as 72h or 7d", Clip(s))
	case d < MinDeadlineLead || d > MaxDeadlineAhead:
		return 0, fmt.Errorf("%s is not between %s and %d days", s, MinDeadlineLead, int(MaxDeadlineAhead.Hours()/24))
	}
	return d, nil
}

// MayOpen says whether a person may open a ceremony from the template.
func MayOpen(t Template, p Person) bool {
	if !p.Active {
		return false
	}
	return slices.Contains(p.Roles, RoleAdmin) || slices.Contains(t.OpenedBy, p.ID) ||
		slices.ContainsFunc(p.Roles, func(r string) bool { return slices.Contains(t.OpenedBy, r) })
}

// TemplateMisfit says why a spec that names a template cannot be completed
// from it ("" when it can): it is for another kind of ceremony, or the spec
// sets an Intune target other than the one the template fixes.
func TemplateMisfit(t Template, s contract.Spec) string {
	switch {
	case s.Kind != "" && s.Kind != t.Kind:
		return fmt.Sprintf("template %s is for %s ceremonies, not %s", t.Name, t.Kind, s.Kind)
	case t.Intune != nil && s.Intune != nil && !SameIntuneTarget(t.Intune, s.Intune):
		return fmt.Sprintf("template %s fixes where its releases go in Intune; leave the spec's intune target out", t.Name)
	}
	return ""
}

// Resolve fills a spec's witnesses and policy from a template and the directory
// as it is now: everyone active holding one of the template's roles (with that
// role), then the people it names, never the initiator. The spec records the
// template and version, and takes the template's Intune target if it fixes
// one. The caller validates the result with ValidateSpec.
func Resolve(t Template, version int, directory []Person, s contract.Spec) contract.Spec {
	s.Kind, s.Quorum = t.Kind, t.Quorum
	if t.Intune != nil {
		target := *t.Intune
		target.Groups = slices.Clone(t.Intune.Groups)
		s.Intune = &target
	}
	s.Template = &contract.TemplateRef{Name: t.Name, Version: version}
	s.Witnesses = nil
	for _, role := range t.Witnesses.Roles {
		for _, p := range directory {
			if p.Active && p.ID != s.Initiator && slices.Contains(p.Roles, role) {
				s.Witnesses = append(s.Witnesses, contract.WitnessRef{ID: p.ID, Role: role})
			}
		}
	}
	for _, w := range t.Witnesses.People {
		if w.ID != s.Initiator && !slices.Contains(s.Witnesses, w) {
			s.Witnesses = append(s.Witnesses, w)
		}
	}
	return s
}
