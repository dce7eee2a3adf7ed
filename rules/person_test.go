package rules

import (
	"slices"
	"strings"
	"testing"
)

func TestValidatePerson(t *testing.T) {
	for _, c := range []struct {
		p     PersonFields
		wants []string // fields with problems
	}{
		{PersonFields{ID: "ada@example.org", Name: "Ada", Email: "ada@example.org", Roles: []string{"admin", "security"}}, nil},
		{PersonFields{ID: "6f1c2e2a-kc-subject"}, nil},
		{PersonFields{}, []string{"id"}},
		{PersonFields{ID: "ada lovelace"}, []string{"id"}},
		{PersonFields{ID: strings.Repeat("a", MaxPersonID+1)}, []string{"id"}},
		{PersonFields{ID: "a", Name: "Ada\x00"}, []string{"name"}},
		{PersonFields{ID: "a", Email: "Ada <ada@example.org>"}, []string{"email"}},
		{PersonFields{ID: "a", Email: "not an address"}, []string{"email"}},
		{PersonFields{ID: "a", Roles: []string{"Security"}}, []string{"roles"}},
		{PersonFields{ID: "a", Roles: []string{"release manager"}}, []string{"roles"}},
		{PersonFields{ID: "a", Roles: []string{strings.Repeat("r", MaxRole+1)}}, []string{"roles"}},
	} {
		var got []string
		for _, p := range ValidatePerson(c.p) {
			got = append(got, p.Field)
		}
		if !slices.Equal(got, c.wants) {
			t.Errorf("ValidatePerson(%+v) = %v, want problems on %v", c.p, ValidatePerson(c.p), c.wants)
		}
	}
}

func TestParseRoles(t *testing.T) {
	if got := ParseRoles(" security, release  legal,,security "); !slices.Equal(got, []string{"security", "release", "legal"}) {
		t.Fatalf("ParseRoles = %q", got)
	}
	if got := ParseRoles(" , "); len(got) != 0 {
		t.Fatalf("ParseRoles of nothing = %q", got)
	}
}

func TestCheckDeactivation(t *testing.T) {
	for _, c := range []struct {
		id, by, reason string
		wants          []string // fields with problems
	}{
		{"bob", "ada", "left the company", nil},
		{"bob", "ada", "", []string{"reason"}},
		{"bob", "ada", "  ", []string{"reason"}},
		{"bob", "ada", strings.Repeat("r", MaxReason), nil},
		{"bob", "ada", strings.Repeat("r", MaxReason+1), []string{"reason"}},
		{"ada", "ada", "testing", []string{"id"}},
		{"ada", "ada", "", []string{"reason", "id"}},
	} {
		var got []string
		for _, p := range CheckDeactivation(c.id, c.by, c.reason) {
			got = append(got, p.Field)
		}
		if !slices.Equal(got, c.wants) {
			t.Errorf("CheckDeactivation(%q, %q, %d characters) = %v, want problems on %v", c.id, c.by, len(c.reason), got, c.wants)
		}
	}
}

func TestKeepsAnAdmin(t *testing.T) {
	ada := Person{ID: "ada", Roles: []string{"admin"}, Active: true}
	bob := Person{ID: "bob", Roles: []string{"release"}, Active: true}
	off := Person{ID: "cy", Roles: []string{"admin"}}
	dir := []Person{ada, bob, off}
	if err := KeepsAnAdmin(dir, Person{ID: "ada", Active: false, Roles: ada.Roles}); err == nil || !strings.Contains(err.Error(), "last active admin") {
		t.Fatalf("deactivating the last admin: %v", err)
	}
	if err := KeepsAnAdmin(dir, Person{ID: "ada", Active: true, Roles: []string{"release"}}); err == nil {
		t.Fatal("taking the last admin's role was allowed")
	}
	if err := KeepsAnAdmin(dir, Person{ID: "bob", Active: false}); err != nil {
		t.Fatalf("deactivating a non-admin: %v", err)
	}
	two := append(slices.Clone(dir), Person{ID: "dee", Roles: []string{"admin"}, Active: true})
	if err := KeepsAnAdmin(two, Person{ID: "ada", Active: false, Roles: ada.Roles}); err != nil {
		t.Fatalf("another admin remains: %v", err)
	}
	if err := KeepsAnAdmin([]Person{bob}, Person{ID: "bob", Active: true}); err != nil {
		t.Fatalf("a directory without admins yet: %v", err)
	}
}
