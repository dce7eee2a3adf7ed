package rules

import (
	"strings"
	"testing"

	"github.com/guildhouse/guildhall/contract"
)

// A template's own check and a spec naming a template take the same names:
// TemplateNameOK's.
func TestTemplateNameOneRule(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"release", true}, {"key-rotation", true}, {"a", true}, {"r2", true}, {strings.Repeat("a", MaxTemplateName), true},
		{"team.release", false}, {"Release", false}, {"-x", false}, {"x-", false}, {"a_b", false}, {"", false},
		{strings.Repeat("a", MaxTemplateName+1), false},
	} {
		if got := TemplateNameOK(c.name); got != c.ok {
			t.Errorf("TemplateNameOK(%q) = %v, want %v", c.name, got, c.ok)
		}
		spec := good()
		spec.Template = &contract.TemplateRef{Name: c.name}
		if refused := len(ValidateSpec(spec, now).On("template.name")) > 0; refused == c.ok {
			t.Errorf("ValidateSpec with template %q: refused %v, want %v", c.name, refused, !c.ok)
		}
		if refused := len(ValidateTemplate(Template{Name: c.name}).On("name")) > 0; refused == c.ok {
			t.Errorf("ValidateTemplate %q: refused %v, want %v", c.name, refused, !c.ok)
		}
	}
}
