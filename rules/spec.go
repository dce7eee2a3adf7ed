package rules

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/guildhouse/guildhall/contract"
)

// ValidateSpec lists every problem with a spec, keyed by field: the shape and
// limits of each field, a deadline after now, an Intune target only on a
// release and valid (ValidateIntuneTarget, fields "intune.*"), a policy
// whose roles some witness holds, and a quorum the witnesses can reach at all
// (counting each person once and never the initiator, as the workflow will).
func ValidateSpec(s contract.Spec, now time.Time) Problems {
	var ps Problems
	if err := CeremonyID(s.ID); err != nil {
		ps.add("id", "%s", err)
	}
	if !kindOK(s.Kind) {
		ps.add("kind", "%q is not one of %s", Clip(s.Kind), strings.Join(contract.Kinds, ", "))
	}
	if len(s.Title) > MaxTitle {
		ps.add("title", "longer than %d characters", MaxTitle)
	}
	if len(s.Description) > MaxDescription {
		ps.add("description", "longer than %d characters", MaxDescription)
	}
	ps = append(ps, artifactProblems(s.Artifact)...)
	switch {
	case strings.TrimSpace(s.Initiator) == "":
		ps.add("initiator", "is empty")
	case len(s.Initiator) > MaxPersonID:
		ps.add("initiator", "longer than %d characters", MaxPersonID)
	}
	if err := Deadline(s.Deadline, now); err != nil {
		ps.add("deadline", "%s", err)
	}
	ps = append(ps, intuneProblems(s.Kind, s.Intune)...)
	if s.Template != nil {
		if !TemplateNameOK(s.Template.Name) {
			ps.add("template.name", "%q is not a template name (lowercase letters, digits and dashes, at most %d)", Clip(s.Template.Name), MaxTemplateName)
		}
		if s.Template.Version < 0 {
			ps.add("template.version", "%d is not a version (1 or more; leave it out for the latest)", s.Template.Version)
		}
		if len(s.Witnesses) == 0 && s.Quorum.Threshold == 0 {
			return ps // witnesses and policy come from the template when the ceremony opens
		}
	}
	ps = append(ps, witnessProblems(s.Witnesses)...)
	ps = append(ps, quorumProblems(s)...)
	return ps
}

// TemplateOnly lists what is wrong with a spec from a source that cannot
// resolve a template itself, such as a cluster Ceremony: one that names a
// template takes its witnesses and quorum from it, so it must list neither,
// or the record would claim a template whose policy it does not follow.
func TemplateOnly(s contract.Spec) Problems {
	var ps Problems
	if s.Template != nil && !FromTemplate(s) {
		ps.add("template", "names template %q but also lists witnesses or a quorum; leave both out, the template gives them", Clip(s.Template.Name))
	}
	return ps
}

// FromTemplate reports whether the spec is to be completed from its template
// when the ceremony opens (it names one and lists no witnesses).
func FromTemplate(s contract.Spec) bool {
	return s.Template != nil && len(s.Witnesses) == 0 && s.Quorum.Threshold == 0
}

func artifactProblems(a contract.Artifact) Problems {
	var ps Problems
	switch {
	case strings.TrimSpace(a.Name) == "":
		ps.add("artifact.name", "is empty")
	case len(a.Name) > MaxArtifactName:
		ps.add("artifact.name", "longer than %d characters", MaxArtifactName)
	}
	if !Digest.MatchString(a.Digest) {
		ps.add("artifact.digest", "%q is not sha256:<64 lowercase hex digits>", Clip(a.Digest))
	}
	switch {
	case len(a.URI) > MaxURI:
		ps.add("artifact.uri", "longer than %d characters", MaxURI)
	case a.URI != "" && !strings.Contains(a.URI, "/"):
		ps.add("artifact.uri", "%q is not a location such as oci://registry.example.org/app", Clip(a.URI))
	}
	return ps
}

func witnessProblems(ws []contract.WitnessRef) Problems {
	var ps Problems
	switch {
	case len(ws) == 0:
		ps.add("witnesses", "is empty")
	case len(ws) > MaxWitnesses:
		ps.add("witnesses", "more than %d", MaxWitnesses)
	}
	for i, w := range ws {
		switch {
		case strings.TrimSpace(w.ID) == "":
			ps.add(fmt.Sprintf("witnesses[%d].id", i), "is empty")
		case len(w.ID) > MaxPersonID:
			ps.add(fmt.Sprintf("witnesses[%d].id", i), "longer than %d characters", MaxPersonID)
		}
		if len(w.Role) > MaxRole {
			ps.add(fmt.Sprintf("witnesses[%d].role", i), "longer than %d characters", MaxRole)
		}
	}
	return ps
}

// quorumProblems checks the policy against the witness set: every role it names
// is held by someone, and the quorum is reachable at all.
func quorumProblems(s contract.Spec) Problems {
	q := s.Quorum
	ps := policyProblems(q)
	held := map[string]bool{}
	for _, w := range s.Witnesses {
		if w.Role != "" {
			held[w.Role] = true
		}
	}
	for _, r := range slices.Sorted(maps.Keys(q.Roles)) {
		if len(r) <= MaxRole && q.Roles[r] >= 1 && !held[r] {
			ps.add(fmt.Sprintf("quorum.roles[%s]", Clip(r)), "names role %q, which no witness holds", Clip(r))
		}
	}
	for i, r := range q.Veto {
		if len(r) <= MaxRole && !held[r] {
			ps.add(fmt.Sprintf("quorum.veto[%d]", i), "names role %q, which no witness holds", Clip(r))
		}
	}
	if len(ps) > 0 || len(s.Witnesses) == 0 {
		return ps
	}
	return reachability(s)
}

// policyProblems checks a policy on its own, before anyone is named: the
// limits, the counts and the minimum assurance. A template's policy is checked
// this far; a spec's also against its witnesses (quorumProblems).
func policyProblems(q contract.Quorum) Problems {
	var ps Problems
	if q.Threshold < 1 {
		ps.add("quorum.threshold", "%d must be at least 1", q.Threshold)
	}
	if len(q.Roles) > MaxPolicyRoles {
		ps.add("quorum.roles", "more than %d roles", MaxPolicyRoles)
	}
	if len(q.Veto) > MaxPolicyRoles {
		ps.add("quorum.veto", "more than %d roles", MaxPolicyRoles)
	}
	if err := AssuranceOK(q.MinAssurance); err != nil {
		ps.add("quorum.minAssurance", "%s", err)
	}
	for _, r := range slices.Sorted(maps.Keys(q.Roles)) {
		f := fmt.Sprintf("quorum.roles[%s]", Clip(r))
		switch {
		case len(r) > MaxRole:
			ps.add(f, "role name longer than %d characters", MaxRole)
		case q.Roles[r] < 1:
			ps.add(f, "%d must be at least 1", q.Roles[r])
		}
	}
	for i, r := range q.Veto {
		if len(r) > MaxRole {
			ps.add(fmt.Sprintf("quorum.veto[%d]", i), "role name longer than %d characters", MaxRole)
		}
	}
	return ps
}

// reachability names the part of the policy the members can never meet even if
// every one of them approves: what quorum.Evaluate calls impossible before
// anyone has signed (TestReachabilityAgreesWithQuorum).
func reachability(s contract.Spec) Problems {
	var ps Problems
	members := Members(s)
	if n := len(members); s.Quorum.Threshold > n {
		ps.add("quorum.threshold", "%d approvals needed, at most %d reachable (%d distinct witnesses besides the initiator)", s.Quorum.Threshold, n, n)
	}
	for _, r := range slices.Sorted(maps.Keys(s.Quorum.Roles)) {
		holders := 0
		for _, m := range members {
			if slices.Contains(m.Roles, r) {
				holders++
			}
		}
		if need := s.Quorum.Roles[r]; need > holders {
			ps.add(fmt.Sprintf("quorum.roles[%s]", Clip(r)), "role %s needs %d approvals, at most %d reachable", r, need, holders)
		}
	}
	return ps
}
