package web

import (
	"sort"

	"github.com/guildhouse/guildhall/contract"
)

// roleProgress is one line of the policy table: approvals from a role against
// the role's minimum.
type roleProgress struct {
	Role      string
	Min       int
	Approvals int
	Veto      bool
	Witnesses []string
}

// progressByRole derives per-role progress from the state for display. The
// workflow's quorum evaluation is authoritative; this only explains it.
func progressByRole(st contract.State) []roleProgress {
	roles := map[string]*roleProgress{}
	get := func(r string) *roleProgress {
		if roles[r] == nil {
			roles[r] = &roleProgress{Role: r}
		}
		return roles[r]
	}
	for _, w := range st.Spec.Witnesses {
		if w.Role != "" {
			p := get(w.Role)
			p.Witnesses = append(p.Witnesses, w.ID)
		}
	}
	for r, n := range st.Spec.Quorum.Roles {
		get(r).Min = n
	}
	for _, r := range st.Spec.Quorum.Veto {
		get(r).Veto = true
	}
	roleOf := map[string][]string{}
	for _, w := range st.Spec.Witnesses {
		if w.Role != "" {
			roleOf[w.ID] = append(roleOf[w.ID], w.Role)
		}
	}
	for _, s := range st.Signatures {
		if s.Decision != contract.Approve {
			continue
		}
		rs := s.Roles
		if len(rs) == 0 {
			rs = roleOf[s.WitnessID]
		}
		for _, r := range rs {
			get(r).Approvals++
		}
	}
	out := make([]roleProgress, 0, len(roles))
	for _, p := range roles {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Role < out[j].Role })
	return out
}

// roleMinimums is the per-role progress table: only roles with a minimum.
func roleMinimums(st contract.State) []roleProgress {
	var out []roleProgress
	for _, p := range progressByRole(st) {
		if p.Min > 0 {
			out = append(out, p)
		}
	}
	return out
}

// Missing is how many more approvals the role needs (0 when its minimum is met).
func (p roleProgress) Missing() int { return max(0, p.Min-p.Approvals) }

// percent of the threshold reached, for the progress bar.
func percent(n, of int) int {
	if of <= 0 {
		return 100
	}
	p := n * 100 / of
	return min(p, 100)
}

func statusNames() []string {
	out := make([]string, len(contract.Statuses))
	for i, s := range contract.Statuses {
		out[i] = string(s)
	}
	return out
}

func shortHash(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}
