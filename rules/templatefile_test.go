package rules

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/guildhouse/guildhall/contract"
)

func TestTemplateYAMLRoundTrip(t *testing.T) {
	tpl := Template{Name: "release", Description: "Release: two approvals,\none from security.\n", Kind: "release",
		Witnesses: TemplateWitnesses{Roles: []string{"security", "release"}},
		Quorum:    contractQuorum(), Deadline: "3d", OpenedBy: []string{"initiator", "yes"}}
	y, err := TemplateYAML(tpl)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(y), "name: release\n") || strings.Contains(string(y), "{") || !strings.Contains(string(y), "  - \"yes\"") && !strings.Contains(string(y), "- \"yes\"") {
		t.Fatalf("YAML:\n%s", y)
	}
	back, err := ParseTemplate(y)
	if err != nil {
		t.Fatal(err)
	}
	if b1, b2 := mustJSON(t, tpl), mustJSON(t, back); b1 != b2 {
		t.Fatalf("round trip:\n%s\n%s", b1, b2)
	}
	if _, err := ParseTemplate([]byte("name: x\nquorum:\n  treshold: 2\n")); err == nil || !strings.Contains(err.Error(), "treshold") {
		t.Fatalf("misspelt field: %v", err)
	}
	if _, err := ParseTemplate([]byte(`{"name": "x", "kind": "release"}`)); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	if _, err := ParseTemplate([]byte("  \n")); err == nil {
		t.Fatal("empty template parsed")
	}
}

func contractQuorum() contract.Quorum {
	return contract.Quorum{Threshold: 2, Roles: map[string]int{"security": 1}, Veto: []string{"security"}, MinAssurance: contract.AssuranceKey}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestValidateTemplateByRolesAlone(t *testing.T) {
	tpl := Template{Name: "release", Kind: "release", Witnesses: TemplateWitnesses{Roles: []string{"security"}},
		Quorum: contract.Quorum{Threshold: 1}, OpenedBy: []string{"release"}}
	if ps := ValidateTemplate(tpl); len(ps) > 0 {
		t.Fatalf("a template choosing witnesses by role alone: %v", ps)
	}
	tpl.Witnesses.People = []contract.WitnessRef{{ID: ""}}
	if ps := ValidateTemplate(tpl); len(ps.On("witnesses.people")) == 0 {
		t.Fatalf("an empty person id: %v", ps)
	}
}
