package ceremonyclient

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/guildhouse/guildhall/contract"
)

func demoSpec() contract.Spec {
	return contract.Spec{ID: "demo/release-guildhall-v0-1-0", Kind: contract.KindRelease, Title: "Release guildhall v0.1.0",
		Artifact:  contract.Artifact{Name: "guildhall", Digest: "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945", URI: "oci://forgejo.guildhouse.dev/guildhouse/guildhall:v0.1.0"},
		Initiator: "ivy@guildhouse.dev",
		Witnesses: []contract.WitnessRef{{ID: "alice@guildhouse.dev", Role: "security"}, {ID: "bob@guildhouse.dev", Role: "release"}},
		Quorum:    contract.Quorum{Threshold: 2, Roles: map[string]int{"security": 1}, Veto: []string{"security"}},
		Deadline:  time.Date(2026, 12, 4, 21, 20, 0, 0, time.UTC), Source: "seed"}
}

// An operator recognises a ceremony in the Temporal UI's list by its summary,
// which the server caps at 200 bytes.
func TestSummary(t *testing.T) {
	spec := demoSpec()
	if got, want := Summary(spec), "Release guildhall v0.1.0 · release · guildhall sha256:4f53cda18c2b… · by ivy@guildhouse.dev"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	spec.Title = strings.Repeat("Überlange Zeremonie ", 20)
	s := Summary(spec)
	if len(s) > maxSummary || !utf8.ValidString(s) || !strings.Contains(s, "… · release · guildhall") {
		t.Errorf("long title: %d bytes, %q", len(s), s)
	}
	spec.Initiator = strings.Repeat("x", 300) + "@example.org"
	if s := Summary(spec); len(s) > maxSummary || !utf8.ValidString(s) {
		t.Errorf("long initiator: %d bytes", len(s))
	}
	d := Details(demoSpec())
	for _, want := range []string{"**Release guildhall v0.1.0** (release ceremony `demo/release-guildhall-v0-1-0`), as opened from seed",
		"alice@guildhouse.dev (security), bob@guildhouse.dev (release)", "2 approvals; at least 1 from security; a reject from security ends it",
		"2026-12-04 21:20 UTC", "oci://forgejo.guildhouse.dev/guildhouse/guildhall:v0.1.0"} {
		if !strings.Contains(d, want) {
			t.Errorf("details lack %q:\n%s", want, d)
		}
	}
	if o := StartOptions(demoSpec()); o.StaticSummary != Summary(demoSpec()) || o.StaticDetails != d || o.Memo[contract.MemoTitle] != "Release guildhall v0.1.0" {
		t.Errorf("start options: %+v", o)
	}
}
