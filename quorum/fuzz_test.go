package quorum

import (
	"fmt"
	"slices"
	"testing"
)

// bytesReader hands out small numbers from fuzz input, zero when it runs out.
type bytesReader struct {
	b []byte
	i int
}

func (r *bytesReader) next(n int) int {
	if r.i >= len(r.b) || n <= 0 {
		return 0
	}
	v := int(r.b[r.i]) % n
	r.i++
	return v
}

var fuzzRoles = []string{"", "security", "release", "legal"}

// scenario is a generated ceremony: witnesses, a policy and each witness's vote
// (0 none, 1 approve, 2 reject), plus the order the votes arrive in.
type scenario struct {
	initiator string
	ids       []string
	roles     []string
	policy    Policy
	votes     map[string]int
	order     []string
}

func genScenario(data []byte) scenario {
	r := &bytesReader{b: data}
	n := 1 + r.next(7)
	var s scenario
	for i := range n {
		// Up to 5 distinct people, so some are listed twice with other roles.
		s.ids = append(s.ids, fmt.Sprintf("w%d", r.next(5)))
		s.roles = append(s.roles, fuzzRoles[r.next(len(fuzzRoles))])
		_ = i
	}
	if r.next(3) == 0 {
		s.initiator = s.ids[r.next(len(s.ids))]
	}
	s.policy.Threshold = r.next(6)
	for _, role := range fuzzRoles[1:] {
		if m := r.next(4); m > 0 {
			if s.policy.Roles == nil {
				s.policy.Roles = map[string]int{}
			}
			s.policy.Roles[role] = m - 1
		}
		if r.next(4) == 0 {
			s.policy.Veto = append(s.policy.Veto, role)
		}
	}
	s.votes = map[string]int{}
	seen := map[string]bool{}
	for _, id := range append(slices.Clone(s.ids), "outsider") {
		if seen[id] {
			continue
		}
		seen[id] = true
		s.votes[id] = r.next(3)
		if s.votes[id] != 0 {
			s.order = append(s.order, id)
		}
	}
	// A Fisher-Yates shuffle driven by the input.
	for i := len(s.order) - 1; i > 0; i-- {
		j := r.next(i + 1)
		s.order[i], s.order[j] = s.order[j], s.order[i]
	}
	return s
}

func (s scenario) ballot(order []string, votes map[string]int) []Vote {
	var out []Vote
	for _, id := range order {
		if v := votes[id]; v != 0 {
			out = append(out, Vote{WitnessID: id, Approve: v == 1})
		}
	}
	return out
}

func (s scenario) eval(order []string, votes map[string]int) Result {
	return Evaluate(s.policy, Members(s.initiator, s.ids, s.roles), s.ballot(order, votes))
}

// FuzzEvaluate checks the policy's invariants on generated ceremonies:
//   - adding an approval never lowers the verdict, adding a reject never raises it;
//   - the verdict (and its reason) does not depend on the order of signing;
//   - the initiator's and outsiders' votes never change anything;
//   - Met really meets the threshold and every role minimum, Vetoed really has a
//     reject from a veto role, counts add up.
//
// Run longer with: go test ./quorum -run '^$' -fuzz FuzzEvaluate -fuzztime 60s
func FuzzEvaluate(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 0, 1, 1, 2, 2, 3, 0, 2, 1, 2, 2, 0, 1, 1, 1, 1, 1})
	f.Add([]byte{6, 1, 1, 2, 2, 3, 3, 4, 1, 0, 0, 2, 3, 1, 0, 2, 0, 3, 1, 2, 2, 2, 1, 1, 0, 9, 8, 7})
	f.Add([]byte{2, 0, 1, 0, 2, 0, 5, 0, 0, 0, 0, 0, 0, 2, 2, 2})
	f.Add([]byte("a longer seed that exercises every branch of the generator at least once"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := genScenario(data)
		members := Members(s.initiator, s.ids, s.roles)
		base := s.eval(s.order, s.votes)

		// Counts and the meaning of each verdict.
		memberVotes, approvals := 0, 0
		for _, m := range members {
			if s.votes[m.ID] != 0 {
				memberVotes++
			}
			if s.votes[m.ID] == 1 {
				approvals++
			}
		}
		if base.Approvals+base.Rejections != memberVotes || base.Approvals != approvals {
			t.Fatalf("counts %d+%d, want %d votes of members, %d approvals", base.Approvals, base.Rejections, memberVotes, approvals)
		}
		switch base.Verdict {
		case Met:
			if base.Approvals < s.policy.Threshold {
				t.Fatalf("met with %d approvals < threshold %d", base.Approvals, s.policy.Threshold)
			}
			for r, min := range s.policy.Roles {
				if base.RoleApprovals[r] < min {
					t.Fatalf("met with role %s at %d < %d", r, base.RoleApprovals[r], min)
				}
			}
		case Vetoed:
			found := false
			for _, m := range members {
				if s.votes[m.ID] == 2 && holdsAny(m, s.policy.Veto) {
					found = true
				}
			}
			if !found {
				t.Fatal("vetoed without a reject from a veto role")
			}
		case Pending, Impossible:
		default:
			t.Fatalf("unknown verdict %q", base.Verdict)
		}

		// Order independence.
		rev := slices.Clone(s.order)
		slices.Reverse(rev)
		sorted := slices.Clone(s.order)
		slices.Sort(sorted)
		for _, order := range [][]string{rev, sorted} {
			if got := s.eval(order, s.votes); got.Verdict != base.Verdict || got.Reason != base.Reason {
				t.Fatalf("order %v gives %s %q; order %v gave %s %q", order, got.Verdict, got.Reason, s.order, base.Verdict, base.Reason)
			}
		}

		// Monotonicity: one more vote from each witness who has not voted.
		for _, m := range members {
			if s.votes[m.ID] != 0 {
				continue
			}
			for _, v := range []int{1, 2} {
				votes := cloneVotes(s.votes)
				votes[m.ID] = v
				got := s.eval(append(slices.Clone(s.order), m.ID), votes)
				if v == 1 && got.Verdict.Rank() < base.Verdict.Rank() {
					t.Fatalf("approval by %s lowered %s to %s", m.ID, base.Verdict, got.Verdict)
				}
				if v == 2 && got.Verdict.Rank() > base.Verdict.Rank() {
					t.Fatalf("reject by %s raised %s to %s", m.ID, base.Verdict, got.Verdict)
				}
			}
		}

		// Votes of the initiator and outsiders change nothing.
		for _, id := range []string{s.initiator, "outsider"} {
			if id == "" {
				continue
			}
			for _, v := range []int{1, 2} {
				votes := cloneVotes(s.votes)
				votes[id] = v
				got := s.eval(append(slices.Clone(s.order), id), votes)
				if got.Verdict != base.Verdict || got.Approvals != base.Approvals || got.Rejections != base.Rejections {
					t.Fatalf("vote %d by non-counting %s changed %s to %s", v, id, base.Verdict, got.Verdict)
				}
			}
		}
	})
}

func cloneVotes(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
