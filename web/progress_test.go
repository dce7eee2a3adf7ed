package web

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/guildhouse/guildhall/contract"
)

// The progress summary over policies and states: every unmet requirement is
// named (in the list and the headline while collecting), no "N of M" has
// N > M, and the bar is full exactly when the quorum is met.
func TestProgressSummary(t *testing.T) {
	w := func(id, role string) contract.WitnessRef { return contract.WitnessRef{ID: id, Role: role} }
	sig := func(id string, d contract.Decision) contract.Signature {
		return contract.Signature{WitnessID: id, Decision: d}
	}
	yes, no := contract.Approve, contract.Reject
	three := []contract.WitnessRef{w("erin", "security"), w("finn", "release"), w("bob", "release")}
	security := contract.Quorum{Threshold: 2, Roles: map[string]int{"security": 1}, Veto: []string{"security"}}
	twoRoles := contract.Quorum{Threshold: 2, Roles: map[string]int{"security": 1, "release": 2}}
	for _, c := range []struct {
		name      string
		status    contract.Status
		q         contract.Quorum
		witnesses []contract.WitnessRef
		sigs      []contract.Signature
		met       bool
		unmet     []string // each must be named: a role, or "overall"
		headline  string   // a phrase the headline must hold
	}{
		{"nobody signed", contract.StatusCollecting, contract.Quorum{Threshold: 2}, three, nil,
			false, []string{"2 more approvals overall"}, "still needs 2 more approvals overall"},
		{"threshold only, one short", contract.StatusCollecting, contract.Quorum{Threshold: 2}, three,
			[]contract.Signature{sig("finn", yes)}, false, []string{"1 more approval overall"}, "still needs"},
		{"threshold met, security minimum not", contract.StatusCollecting, security, three,
			[]contract.Signature{sig("finn", yes), sig("bob", yes)}, false, []string{"1 approval from security (0 of 1)"}, "still needs 1 approval from security"},
		{"two minimums and the threshold short", contract.StatusCollecting, twoRoles, three,
			[]contract.Signature{sig("finn", yes)}, false,
			[]string{"1 more approval overall", "1 approval from release (1 of 2)", "1 approval from security (0 of 1)"}, "still needs"},
		{"a reject does not count as approval", contract.StatusCollecting, contract.Quorum{Threshold: 2}, three,
			[]contract.Signature{sig("finn", yes), sig("bob", no)}, false, []string{"1 more approval overall"}, "still needs"},
		{"the initiator never counts", contract.StatusCollecting, contract.Quorum{Threshold: 2},
			[]contract.WitnessRef{w("ivy", ""), w("finn", "")}, []contract.Signature{sig("ivy", yes), sig("finn", yes)},
			false, []string{"1 more approval overall"}, "still needs"},
		{"quorum reached exactly", contract.StatusQuorumReached, security, three,
			[]contract.Signature{sig("erin", yes), sig("finn", yes)}, true, nil, "Quorum reached"},
		{"quorum reached with more than needed", contract.StatusQuorumReached, security, three,
			[]contract.Signature{sig("erin", yes), sig("finn", yes), sig("bob", yes)}, true, nil, "Quorum reached"},
		{"sealed", contract.StatusSealed, security, three,
			[]contract.Signature{sig("erin", yes), sig("finn", yes), sig("bob", yes)}, true, nil, "Sealed"},
		{"vetoed", contract.StatusRejected, security, three,
			[]contract.Signature{sig("finn", yes), sig("erin", no)}, false,
			[]string{"1 more approval overall", "1 approval from security"}, "Erin rejected it, and a reject from security ends"},
		{"impossible", contract.StatusRejected, contract.Quorum{Threshold: 3}, three,
			[]contract.Signature{sig("finn", yes), sig("bob", no)}, false, []string{"2 more approvals overall"}, "could no longer meet the quorum"},
		{"expired short of a role", contract.StatusExpired, security, three,
			[]contract.Signature{sig("finn", yes), sig("bob", yes)}, false, []string{"1 approval from security"}, "Expired: the deadline passed while it still needed 1 approval from security"},
		{"cancelled", contract.StatusCancelled, security, three, nil, false,
			[]string{"2 more approvals overall", "1 approval from security"}, "Cancelled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := contract.State{Status: c.status, Signatures: c.sigs, Reason: "withdrawn",
				Spec: contract.Spec{Initiator: "ivy", Witnesses: c.witnesses, Quorum: c.q}}
			p := summarizeProgress(st, func(id string) string { return strings.ToUpper(id[:1]) + id[1:] })
			if p.Met != c.met {
				t.Errorf("met = %v, want %v", p.Met, c.met)
			}
			if len(p.Unmet) != len(c.unmet) {
				t.Errorf("unmet = %q, want %d requirements %q", p.Unmet, len(c.unmet), c.unmet)
			}
			for i, want := range c.unmet {
				if i < len(p.Unmet) && !strings.HasPrefix(p.Unmet[i], want) {
					t.Errorf("unmet[%d] = %q, want %q…", i, p.Unmet[i], want)
				}
			}
			if !strings.Contains(p.Headline, c.headline) {
				t.Errorf("headline %q lacks %q", p.Headline, c.headline)
			}
			if c.status == contract.StatusCollecting {
				for _, u := range p.Unmet {
					if !strings.Contains(p.Headline, u) {
						t.Errorf("headline %q does not name %q", p.Headline, u)
					}
				}
			}
			if p.Next == "" {
				t.Error("nothing says what happens next")
			}
			if full := p.Value == p.Max; full != c.met || p.Value > p.Max || p.Max <= 0 {
				t.Errorf("bar %d of %d with met = %v", p.Value, p.Max, c.met)
			}
			texts := append([]string{p.Count, p.Headline, p.Next}, p.Unmet...)
			for _, r := range p.Roles {
				texts = append(texts, r.Count())
			}
			for _, s := range texts {
				for _, m := range nOfM.FindAllStringSubmatch(s, -1) {
					if n, _ := strconv.Atoi(m[1]); n > mustAtoi(t, m[2]) {
						t.Errorf("%q says %s", s, m[0])
					}
				}
			}
		})
	}
}

var nOfM = regexp.MustCompile(`(\d+) of (\d+)`)

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCounts(t *testing.T) {
	for _, c := range []struct {
		n, of int
		want  string
	}{{0, 2, "0 of 2 approvals"}, {1, 1, "1 of 1 approval"}, {2, 2, "2 of 2 approvals"}, {3, 2, "3 approvals (2 needed)"}, {2, 1, "2 approvals (1 needed)"}} {
		if got := approvalsCount(c.n, c.of); got != c.want {
			t.Errorf("approvalsCount(%d, %d) = %q, want %q", c.n, c.of, got, c.want)
		}
	}
}
