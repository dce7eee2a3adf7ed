package watcher

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/quorum"
	"github.com/guildhouse/guildhall/watcher/crd"
)

var digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// Validate lists what is wrong with a Ceremony's spec, in plain words, or nothing.
// It repeats the CRD schema's checks (the substrate's own CRD may be looser, and
// a schema can be bypassed by an older CRD version) and adds what a schema cannot
// express: a deadline in the past, and a quorum the witnesses can never reach once
// duplicates and the initiator are left out.
func Validate(s crd.CeremonySpec, now time.Time) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if !slices.Contains(contract.Kinds, s.Kind) {
		add("kind %q is not one of %v", s.Kind, contract.Kinds)
	}
	if s.Artifact.Name == "" {
		add("artifact.name is empty")
	}
	if !digestPattern.MatchString(s.Artifact.Digest) {
		add("artifact.digest %q is not sha256:<64 lowercase hex digits>", s.Artifact.Digest)
	}
	if s.Initiator == "" {
		add("initiator is empty")
	}
	problems = append(problems, witnessProblems(s.Witnesses)...)
	problems = append(problems, deadlineProblems(s.Deadline, now)...)
	problems = append(problems, quorumProblems(s)...)
	return problems
}

func witnessProblems(ws []contract.WitnessRef) []string {
	if len(ws) == 0 {
		return []string{"witnesses is empty"}
	}
	for i, w := range ws {
		if w.ID == "" {
			return []string{fmt.Sprintf("witnesses[%d].id is empty", i)}
		}
	}
	return nil
}

func deadlineProblems(deadline string, now time.Time) []string {
	d, err := time.Parse(time.RFC3339, deadline)
	switch {
	case deadline == "":
		return []string{"deadline is missing"}
	case err != nil:
		return []string{fmt.Sprintf("deadline %q is not an RFC 3339 time", deadline)}
	case !d.After(now):
		return []string{fmt.Sprintf("deadline %s is in the past", d.UTC().Format(time.RFC3339))}
	}
	return nil
}

// quorumProblems checks the policy against the witness set: every role it names is
// held by someone, and the quorum is reachable at all (the quorum package decides
// that exactly as the workflow will).
func quorumProblems(s crd.CeremonySpec) []string {
	q := s.Quorum
	if q.Threshold < 1 {
		return []string{fmt.Sprintf("quorum.threshold %d must be at least 1", q.Threshold)}
	}
	held := map[string]bool{}
	for _, w := range s.Witnesses {
		if w.Role != "" {
			held[w.Role] = true
		}
	}
	var problems []string
	for _, r := range sortedRoles(q.Roles) {
		if !held[r] {
			problems = append(problems, fmt.Sprintf("quorum.roles names unknown role %q (no witness holds it)", r))
		} else if q.Roles[r] < 1 {
			problems = append(problems, fmt.Sprintf("quorum.roles[%s] %d must be at least 1", r, q.Roles[r]))
		}
	}
	for _, r := range q.Veto {
		if !held[r] {
			problems = append(problems, fmt.Sprintf("quorum.veto names unknown role %q (no witness holds it)", r))
		}
	}
	if len(problems) > 0 {
		return problems
	}
	return reachability(s)
}

func reachability(s crd.CeremonySpec) []string {
	ids := make([]string, len(s.Witnesses))
	roles := make([]string, len(s.Witnesses))
	for i, w := range s.Witnesses {
		ids[i], roles[i] = w.ID, w.Role
	}
	members := quorum.Members(s.Initiator, ids, roles)
	policy := quorum.Policy{Threshold: s.Quorum.Threshold, Roles: s.Quorum.Roles, Veto: s.Quorum.Veto}
	if res := quorum.Evaluate(policy, members, nil); res.Verdict == quorum.Impossible {
		return []string{fmt.Sprintf("%s (%d distinct witnesses besides the initiator)", res.Reason, len(members))}
	}
	return nil
}

func sortedRoles(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}
