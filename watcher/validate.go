package watcher

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/watcher/crd"
)

// Validate reads a Ceremony's spec and lists what is wrong with it in plain words,
// or nothing: the rules package's checks, which the workflow applies too, and
// that a Ceremony naming a template lists no witnesses or quorum of its own (the
// CRD schema repeats what it can express, and a looser substrate schema may let
// more through), plus a deadline that is not an RFC 3339 time. A resource the
// watcher accepts is never refused by the workflow it starts, except for what
// only the Ops DB knows: whether its template exists, is for its kind, and may
// be opened by its initiator (the workflow rejects it, and the attestation
// says why).
func Validate(obj *unstructured.Unstructured, now time.Time) (contract.Spec, []string) {
	raw, err := crd.DecodeSpec(obj)
	if err != nil {
		return contract.Spec{}, []string{err.Error()}
	}
	spec := crd.ContractSpec(obj, raw)
	var problems []string
	if _, err := time.Parse(time.RFC3339, raw.Deadline); raw.Deadline != "" && err != nil {
		problems = append(problems, fmt.Sprintf("deadline %q is not an RFC 3339 time", rules.Clip(raw.Deadline)))
	}
	for _, p := range append(rules.TemplateOnly(spec), rules.ValidateSpec(spec, now)...) {
		if p.Field == "deadline" && len(problems) > 0 {
			continue // the parse error says it better
		}
		problems = append(problems, p.String())
	}
	return spec, problems
}
