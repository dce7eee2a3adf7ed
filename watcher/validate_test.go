package watcher

import (
	"strings"
	"testing"
	"time"
)

// The rules themselves are tested in the rules package; here, that the watcher
// reads the resource, applies them and adds what only it can see.
func TestValidate(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name   string
		mutate func(map[string]any)
		want   string // substring of a problem; "" means valid
	}{
		{"valid", func(map[string]any) {}, ""},
		{"a rule the CRD schema cannot express", func(s map[string]any) {
			s["deadline"] = now.Add(-time.Minute).UTC().Format(time.RFC3339)
		}, "deadline: deadline"},
		{"quorum the witnesses cannot reach", func(s map[string]any) {
			s["quorum"] = map[string]any{"threshold": int64(2), "roles": map[string]any{"security": int64(2)}}
		}, "quorum.roles[security]: role security needs 2"},
		{"unparsable deadline", func(s map[string]any) { s["deadline"] = "tomorrow" }, `deadline "tomorrow" is not an RFC 3339 time`},
		{"missing deadline", func(s map[string]any) { delete(s, "deadline") }, "deadline: deadline is missing"},
		{"unknown kind", func(s map[string]any) { s["kind"] = "coronation" }, `kind: "coronation" is not one of`},
		{"wrong shape", func(s map[string]any) { s["witnesses"] = "alice" }, "spec has the wrong shape"},
		{"a template instead of witnesses and quorum", func(s map[string]any) {
			delete(s, "witnesses")
			delete(s, "quorum")
			s["template"] = map[string]any{"name": "release"}
		}, ""},
		{"a template and witnesses too", func(s map[string]any) { s["template"] = map[string]any{"name": "release"} },
			`template: names template "release" but also lists witnesses`},
		{"a bad template name", func(s map[string]any) {
			delete(s, "witnesses")
			delete(s, "quorum")
			s["template"] = map[string]any{"name": "Release!"}
		}, "template.name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validSpec()
			c.mutate(s)
			spec, problems := Validate(ceremonyObj("ns", "rel", "uid-1", 3, s), now)
			if c.want == "" {
				if len(problems) != 0 {
					t.Fatalf("valid spec refused: %v", problems)
				}
				if spec.ID != "ns/rel" || spec.Generation != 3 {
					t.Fatalf("spec %+v", spec)
				}
				return
			}
			if !strings.Contains(strings.Join(problems, "; "), c.want) {
				t.Fatalf("problems %q do not mention %q", problems, c.want)
			}
		})
	}
}
