package workflows

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
)

// rulesChange versions checking specs with the rules package, the checks the web,
// the watcher and the CRD schema share: a kind from the list, an artifact name,
// an initiator, a future deadline within rules.MaxDeadlineAhead, policy roles some
// witness holds and a reachable quorum, with the same limits everywhere. Runs
// recorded before it (DefaultVersion) keep legacySpecProblem for the rest of the
// run, so a ceremony those looser checks let open is not refused on replay.
const rulesChange = "one-rule-set"

// rulesEnabled reports whether this run checks specs with the rules package,
// recording the version marker the first time it is asked (at opening, or at the
// first amendment of a continued run).
func (c *ceremony) rulesEnabled(ctx workflow.Context) bool {
	return changed(ctx, rulesChange, &c.rulesOn)
}

// templateNameChange versions the template name rule of a spec: a name with a
// dot, which no template can have, is refused by the spec check (rules.TemplateNameOK)
// instead of by ResolveTemplate finding no such template. Runs recorded before it
// scheduled ResolveTemplate for such a name and keep doing so. The marker is
// asked for only where the two rules disagree, so other runs do not record it.
const templateNameChange = "template-name-rule"

// specProblem returns what is wrong with a spec in plain words, or "".
func (c *ceremony) specProblem(ctx workflow.Context, spec contract.Spec) string {
	if !c.rulesEnabled(ctx) {
		return legacySpecProblem(spec)
	}
	ps := rules.ValidateSpec(spec, workflow.Now(ctx))
	if t := spec.Template; t != nil && legacyTemplateNameOK(t.Name) && !rules.TemplateNameOK(t.Name) &&
		!changed(ctx, templateNameChange, &c.templateNameOn) {
		ps = slices.DeleteFunc(ps, func(p rules.Problem) bool { return p.Field == "template.name" })
	}
	return ps.Error()
}

// legacyTemplateNameOK is a spec's template name rule from before
// templateNameChange, frozen: it serves only runs recorded before that change.
func legacyTemplateNameOK(name string) bool {
	return rules.NameOK(name) && len(name) <= rules.MaxTemplateName
}

// legacySpecProblem is the workflow's own check from before rulesChange, frozen:
// it serves only runs recorded before that change. Delete it with the
// DefaultVersion branch once no such ceremony can still be running.
func legacySpecProblem(s contract.Spec) string {
	const maxID, maxText, maxWitnesses = 254, 4000, 100
	switch {
	case s.ID == "":
		return "id is empty"
	case len(s.ID) > maxID:
		return fmt.Sprintf("id is longer than %d characters", maxID)
	case s.Kind == "" || len(s.Kind) > 64:
		return "kind must be 1 to 64 characters"
	case len(s.Title) > 200:
		return "title is longer than 200 characters"
	case len(s.Description) > maxText:
		return fmt.Sprintf("description is longer than %d characters", maxText)
	case !rules.Digest.MatchString(s.Artifact.Digest):
		return fmt.Sprintf("artifact digest %q is not sha256:<64 hex digits>", clip(s.Artifact.Digest))
	case len(s.Artifact.Name) > 256 || len(s.Artifact.URI) > 2048:
		return "artifact name or uri is too long"
	case len(s.Initiator) > maxID:
		return "initiator id is too long"
	case len(s.Witnesses) == 0:
		return "no witnesses"
	case len(s.Witnesses) > maxWitnesses:
		return fmt.Sprintf("more than %d witnesses", maxWitnesses)
	case s.Quorum.Threshold < 1:
		return "threshold must be at least 1"
	case len(s.Quorum.Roles) > 32 || len(s.Quorum.Veto) > 32:
		return "too many roles in the quorum policy"
	case s.Deadline.IsZero():
		return "deadline is missing"
	}
	for _, w := range s.Witnesses {
		switch {
		case strings.TrimSpace(w.ID) == "" || len(w.ID) > maxID:
			return fmt.Sprintf("witness id %q must be 1 to %d characters", clip(w.ID), maxID)
		case len(w.Role) > 64:
			return fmt.Sprintf("role of %s is longer than 64 characters", clip(w.ID))
		}
	}
	for _, r := range s.Quorum.Veto {
		if len(r) > 64 {
			return "veto role is longer than 64 characters"
		}
	}
	for _, r := range slices.Sorted(maps.Keys(s.Quorum.Roles)) {
		if len(r) > 64 {
			return "role is longer than 64 characters"
		}
	}
	return ""
}
