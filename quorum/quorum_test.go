package quorum

import (
	"strings"
	"testing"
)

// w builds witness entries: "alice:security" or "carol" (no role).
func w(entries ...string) (ids, roles []string) {
	for _, e := range entries {
		id, role, _ := strings.Cut(e, ":")
		ids = append(ids, id)
		roles = append(roles, role)
	}
	return ids, roles
}

func yes(ids ...string) []Vote {
	out := make([]Vote, len(ids))
	for i, id := range ids {
		out[i] = Vote{WitnessID: id, Approve: true}
	}
	return out
}

func no(ids ...string) []Vote {
	out := make([]Vote, len(ids))
	for i, id := range ids {
		out[i] = Vote{WitnessID: id}
	}
	return out
}

func join(vs ...[]Vote) []Vote {
	var out []Vote
	for _, v := range vs {
		out = append(out, v...)
	}
	return out
}

var (
	threeMixed = []string{"alice:security", "bob:release", "carol:release"}
	fiveMixed  = []string{"alice:security", "bob:release", "carol:release", "dave:legal", "erin:security"}
)

type policyCase struct {
	name      string
	initiator string
	witnesses []string
	policy    Policy
	votes     []Vote
	want      Verdict
	approvals int
	rejects   int
	reason    string // substring of Result.Reason
}

var policyCases = []policyCase{
	// Threshold alone.
	{name: "no votes pending", witnesses: threeMixed, policy: Policy{Threshold: 2}, want: Pending},
	{name: "one of two pending", witnesses: threeMixed, policy: Policy{Threshold: 2}, votes: yes("alice"), want: Pending, approvals: 1},
	{name: "two of two met", witnesses: threeMixed, policy: Policy{Threshold: 2}, votes: yes("alice", "bob"), want: Met, approvals: 2},
	{name: "three of two still met", witnesses: threeMixed, policy: Policy{Threshold: 2}, votes: yes("alice", "bob", "carol"), want: Met, approvals: 3},
	{name: "one of one met", witnesses: []string{"alice"}, policy: Policy{Threshold: 1}, votes: yes("alice"), want: Met, approvals: 1},
	{name: "threshold zero met at once", witnesses: threeMixed, policy: Policy{Threshold: 0}, want: Met},
	{name: "threshold above witnesses impossible at once", witnesses: threeMixed, policy: Policy{Threshold: 4}, want: Impossible, reason: "4 approvals needed, at most 3 reachable"},
	{name: "all of three, one reject impossible", witnesses: threeMixed, policy: Policy{Threshold: 3}, votes: no("bob"), want: Impossible, rejects: 1, reason: "at most 2 reachable"},
	{name: "two of three, one reject still pending", witnesses: threeMixed, policy: Policy{Threshold: 2}, votes: no("bob"), want: Pending, rejects: 1},
	{name: "two of three, two rejects impossible", witnesses: threeMixed, policy: Policy{Threshold: 2}, votes: no("bob", "carol"), want: Impossible, rejects: 2},
	{name: "met despite a non-veto reject", witnesses: threeMixed, policy: Policy{Threshold: 2}, votes: join(no("carol"), yes("alice", "bob")), want: Met, approvals: 2, rejects: 1},
	{name: "all reject without veto impossible", witnesses: threeMixed, policy: Policy{Threshold: 1}, votes: no("alice", "bob", "carol"), want: Impossible, rejects: 3},

	// Each person counted once.
	{name: "person listed twice counts once", witnesses: []string{"alice:security", "alice:release", "bob:release"}, policy: Policy{Threshold: 2}, votes: yes("alice"), want: Pending, approvals: 1},
	{name: "person listed twice cannot fill threshold alone", witnesses: []string{"alice:security", "alice:release"}, policy: Policy{Threshold: 2}, want: Impossible},
	{name: "second vote of same person ignored", witnesses: threeMixed, policy: Policy{Threshold: 2}, votes: yes("alice", "alice"), want: Pending, approvals: 1},
	{name: "person with two roles fills both minimums", witnesses: []string{"alice:security", "alice:release", "bob"}, policy: Policy{Threshold: 1, Roles: map[string]int{"security": 1, "release": 1}}, votes: yes("alice"), want: Met, approvals: 1},
	{name: "two roles one person, threshold two still needs another", witnesses: []string{"alice:security", "alice:release", "bob"}, policy: Policy{Threshold: 2, Roles: map[string]int{"security": 1, "release": 1}}, votes: yes("alice"), want: Pending, approvals: 1},

	// The initiator never counts.
	{name: "initiator vote ignored", initiator: "ivy", witnesses: []string{"ivy:security", "alice:security", "bob:release"}, policy: Policy{Threshold: 2}, votes: yes("ivy", "alice"), want: Pending, approvals: 1},
	{name: "initiator as only witness impossible", initiator: "ivy", witnesses: []string{"ivy:security"}, policy: Policy{Threshold: 1}, want: Impossible},
	{name: "initiator listed twice dropped both times", initiator: "ivy", witnesses: []string{"ivy:security", "ivy:release", "alice:security", "bob:release"}, policy: Policy{Threshold: 3}, want: Impossible},
	{name: "initiator reject on veto role ignored", initiator: "ivy", witnesses: []string{"ivy:security", "alice:security", "bob:release"}, policy: Policy{Threshold: 1, Veto: []string{"security"}}, votes: no("ivy"), want: Pending},
	{name: "non-member vote ignored", witnesses: threeMixed, policy: Policy{Threshold: 1}, votes: yes("mallory"), want: Pending},

	// Per-role minimums (AND across roles).
	{name: "role minimum unmet although threshold met", witnesses: threeMixed, policy: Policy{Threshold: 2, Roles: map[string]int{"security": 1}}, votes: yes("bob", "carol"), want: Pending, approvals: 2},
	{name: "role minimum and threshold met", witnesses: threeMixed, policy: Policy{Threshold: 2, Roles: map[string]int{"security": 1}}, votes: yes("bob", "alice"), want: Met, approvals: 2},
	{name: "two role minimums both needed", witnesses: fiveMixed, policy: Policy{Threshold: 2, Roles: map[string]int{"security": 1, "legal": 1}}, votes: yes("alice", "bob"), want: Pending, approvals: 2},
	{name: "two role minimums both met", witnesses: fiveMixed, policy: Policy{Threshold: 2, Roles: map[string]int{"security": 1, "legal": 1}}, votes: yes("alice", "dave"), want: Met, approvals: 2},
	{name: "role minimum of two", witnesses: fiveMixed, policy: Policy{Threshold: 1, Roles: map[string]int{"security": 2}}, votes: yes("alice"), want: Pending, approvals: 1},
	{name: "role minimum impossible after reject", witnesses: threeMixed, policy: Policy{Threshold: 1, Roles: map[string]int{"security": 1}}, votes: no("alice"), want: Impossible, rejects: 1, reason: "role security needs 1 approvals, at most 0 reachable"},
	{name: "role nobody holds impossible at once", witnesses: threeMixed, policy: Policy{Threshold: 1, Roles: map[string]int{"auditor": 1}}, want: Impossible, reason: "role auditor"},
	{name: "role minimum zero is no constraint", witnesses: threeMixed, policy: Policy{Threshold: 1, Roles: map[string]int{"auditor": 0}}, votes: yes("bob"), want: Met, approvals: 1},
	{name: "impossible reason names first role alphabetically", witnesses: threeMixed, policy: Policy{Threshold: 1, Roles: map[string]int{"zeta": 1, "beta": 1}}, want: Impossible, reason: "role beta"},
	{name: "witness without role counts only for threshold", witnesses: []string{"alice:security", "carol"}, policy: Policy{Threshold: 2, Roles: map[string]int{"security": 1}}, votes: yes("carol", "alice"), want: Met, approvals: 2},

	// Veto roles.
	{name: "veto reject ends it", witnesses: threeMixed, policy: Policy{Threshold: 2, Veto: []string{"security"}}, votes: no("alice"), want: Vetoed, rejects: 1, reason: "vetoed by alice"},
	{name: "veto beats met", witnesses: threeMixed, policy: Policy{Threshold: 2, Veto: []string{"security"}}, votes: join(yes("bob", "carol"), no("alice")), want: Vetoed, approvals: 2, rejects: 1},
	{name: "reject outside veto role is not a veto", witnesses: threeMixed, policy: Policy{Threshold: 2, Veto: []string{"security"}}, votes: no("bob"), want: Pending, rejects: 1},
	{name: "veto approval is an approval", witnesses: threeMixed, policy: Policy{Threshold: 1, Veto: []string{"security"}}, votes: yes("alice"), want: Met, approvals: 1},
	{name: "veto through second role", witnesses: []string{"alice:security", "bob:release", "bob:legal"}, policy: Policy{Threshold: 1, Veto: []string{"legal"}}, votes: no("bob"), want: Vetoed, rejects: 1, reason: "vetoed by bob"},
	{name: "two vetoes named sorted", witnesses: fiveMixed, policy: Policy{Threshold: 1, Veto: []string{"security"}}, votes: no("erin", "alice"), want: Vetoed, rejects: 2, reason: "vetoed by alice, erin"},
	{name: "veto role nobody holds has no effect", witnesses: threeMixed, policy: Policy{Threshold: 2, Veto: []string{"legal"}}, votes: no("alice"), want: Pending, rejects: 1},
	{name: "veto beats impossible", witnesses: threeMixed, policy: Policy{Threshold: 3, Veto: []string{"release"}}, votes: no("bob"), want: Vetoed, rejects: 1},
	{name: "large ceremony met", witnesses: []string{"a:x", "b:x", "c:y", "d:y", "e:z", "f:z", "g", "h"}, policy: Policy{Threshold: 5, Roles: map[string]int{"x": 1, "y": 2, "z": 1}, Veto: []string{"z"}}, votes: join(yes("a", "c", "d", "e", "g"), no("h")), want: Met, approvals: 5, rejects: 1},
	{name: "large ceremony one short", witnesses: []string{"a:x", "b:x", "c:y", "d:y", "e:z", "f:z", "g", "h"}, policy: Policy{Threshold: 5, Roles: map[string]int{"x": 1, "y": 2, "z": 1}, Veto: []string{"z"}}, votes: join(yes("a", "c", "e", "g", "h")), want: Pending, approvals: 5},
}

func TestEvaluateTable(t *testing.T) {
	if len(policyCases) < 30 {
		t.Fatalf("only %d policy cases; the issue asks for at least 30", len(policyCases))
	}
	for _, tc := range policyCases {
		t.Run(tc.name, func(t *testing.T) {
			ids, roles := w(tc.witnesses...)
			got := Evaluate(tc.policy, Members(tc.initiator, ids, roles), tc.votes)
			if got.Verdict != tc.want || got.Approvals != tc.approvals || got.Rejections != tc.rejects {
				t.Fatalf("got %s (%d approvals, %d rejections, %q), want %s (%d, %d)",
					got.Verdict, got.Approvals, got.Rejections, got.Reason, tc.want, tc.approvals, tc.rejects)
			}
			if !strings.Contains(got.Reason, tc.reason) {
				t.Fatalf("reason %q does not contain %q", got.Reason, tc.reason)
			}
			if got.Verdict.Decided() == (got.Verdict == Pending) {
				t.Fatalf("Decided() wrong for %s", got.Verdict)
			}
			// The verdict is the same whatever order the same votes came in.
			rev := make([]Vote, len(tc.votes))
			for i, v := range tc.votes {
				rev[len(rev)-1-i] = v
			}
			if again := Evaluate(tc.policy, Members(tc.initiator, ids, roles), rev); again.Verdict != got.Verdict || again.Reason != got.Reason {
				t.Fatalf("reversed order gives %s %q, want %s %q", again.Verdict, again.Reason, got.Verdict, got.Reason)
			}
		})
	}
}

func TestMembersMergesRolesAndDropsInitiator(t *testing.T) {
	ids, roles := w("alice:security", "ivy:release", "alice:release", "bob", "alice:security", ":x")
	got := Members("ivy", ids, roles)
	if len(got) != 2 || got[0].ID != "alice" || strings.Join(got[0].Roles, ",") != "security,release" ||
		got[1].ID != "bob" || got[1].Roles != nil {
		t.Fatalf("members = %+v", got)
	}
}

func TestRankOrder(t *testing.T) {
	if !(Vetoed.Rank() < Impossible.Rank() && Impossible.Rank() < Pending.Rank() && Pending.Rank() < Met.Rank()) {
		t.Fatal("rank order broken")
	}
	if Verdict("nonsense").Rank() != -1 {
		t.Fatal("unknown verdict must rank -1")
	}
}
