package watcher

import (
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/watcher/crd"
)

func TestValidate(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	good := func() crd.CeremonySpec {
		return crd.CeremonySpec{
			Kind: "release", Artifact: contract.Artifact{Name: "web", Digest: digest}, Initiator: "dora",
			Witnesses: []contract.WitnessRef{{ID: "alice", Role: "maintainer"}, {ID: "bob", Role: "maintainer"}, {ID: "carol", Role: "security"}},
			Quorum:    contract.Quorum{Threshold: 2, Roles: map[string]int{"maintainer": 1}, Veto: []string{"security"}},
			Deadline:  "2030-01-02T12:00:00Z",
		}
	}
	cases := []struct {
		name   string
		mutate func(*crd.CeremonySpec)
		want   string // substring of a problem; "" means valid
	}{
		{"valid", func(*crd.CeremonySpec) {}, ""},
		{"threshold above witnesses", func(s *crd.CeremonySpec) { s.Quorum.Threshold = 4 }, "4 approvals needed, at most 3"},
		{"threshold counts a person once", func(s *crd.CeremonySpec) {
			s.Witnesses = []contract.WitnessRef{{ID: "alice", Role: "maintainer"}, {ID: "alice", Role: "security"}}
			s.Quorum = contract.Quorum{Threshold: 2}
		}, "2 approvals needed, at most 1"},
		{"initiator never counts", func(s *crd.CeremonySpec) {
			s.Witnesses = append(s.Witnesses, contract.WitnessRef{ID: "dora"})
			s.Quorum = contract.Quorum{Threshold: 4}
		}, "4 approvals needed, at most 3"},
		{"role minimum unreachable", func(s *crd.CeremonySpec) { s.Quorum.Roles["security"] = 2 }, "role security needs 2"},
		{"unknown role", func(s *crd.CeremonySpec) { s.Quorum.Roles["auditor"] = 1 }, `unknown role "auditor"`},
		{"unknown veto role", func(s *crd.CeremonySpec) { s.Quorum.Veto = []string{"legal"} }, `unknown role "legal"`},
		{"bad digest", func(s *crd.CeremonySpec) { s.Artifact.Digest = "sha256:ABC" }, "artifact.digest"},
		{"digest wrong algorithm", func(s *crd.CeremonySpec) { s.Artifact.Digest = "md5:" + strings.Repeat("a", 64) }, "artifact.digest"},
		{"past deadline", func(s *crd.CeremonySpec) { s.Deadline = "2029-12-31T00:00:00Z" }, "in the past"},
		{"deadline now", func(s *crd.CeremonySpec) { s.Deadline = "2030-01-01T12:00:00Z" }, "in the past"},
		{"unparsable deadline", func(s *crd.CeremonySpec) { s.Deadline = "tomorrow" }, "not an RFC 3339"},
		{"missing deadline", func(s *crd.CeremonySpec) { s.Deadline = "" }, "deadline is missing"},
		{"zero threshold", func(s *crd.CeremonySpec) { s.Quorum.Threshold = 0 }, "at least 1"},
		{"no witnesses", func(s *crd.CeremonySpec) { s.Witnesses = nil }, "witnesses is empty"},
		{"unknown kind", func(s *crd.CeremonySpec) { s.Kind = "coronation" }, `kind "coronation"`},
		{"no initiator", func(s *crd.CeremonySpec) { s.Initiator = "" }, "initiator is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := good()
			c.mutate(&s)
			problems := Validate(s, now)
			if c.want == "" {
				if len(problems) != 0 {
					t.Fatalf("valid spec refused: %v", problems)
				}
				return
			}
			if !strings.Contains(strings.Join(problems, "; "), c.want) {
				t.Fatalf("problems %q do not mention %q", problems, c.want)
			}
		})
	}
}
