package deploy

import (
	"encoding/json"
	"slices"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
)

// The CeremonyAttestation's schema admits every state the workflow writes (a
// status the schema refused would leave the write-back retrying for a day), its
// outcome only results, and as many pending witnesses as a ceremony has.
func TestAttestationSchemaIsTheContract(t *testing.T) {
	var spec apiextensionsv1.JSONSchemaProps
	for _, m := range loadAll(t) {
		if c, ok := m.Obj.(*apiextensionsv1.CustomResourceDefinition); ok && c.Spec.Names.Kind == "CeremonyAttestation" {
			spec = c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
		}
	}
	enum := func(field string) []string {
		var out []string
		for _, e := range spec.Properties[field].Enum {
			var s string
			if err := json.Unmarshal(e.Raw, &s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	var states, outcomes []string
	for _, s := range contract.Statuses {
		states = append(states, string(s))
		if s.Result() {
			outcomes = append(outcomes, string(s))
		}
	}
	if got, want := enum("state"), append(states, "refused"); !slices.Equal(got, want) {
		t.Errorf("state enum %v, the contract says %v", got, want)
	}
	if got := enum("outcome"); !slices.Equal(got, outcomes) {
		t.Errorf("outcome enum %v, the contract says %v", got, outcomes)
	}
	if got := ptrOr(spec.Properties["pending"].MaxItems); got != rules.MaxWitnesses {
		t.Errorf("pending maxItems %d, the rules say %d", got, rules.MaxWitnesses)
	}
	if slices.Contains(spec.Required, "state") || slices.Contains(spec.Required, "outcome") {
		t.Errorf("required %v: a refusal recorded before the workflow's first write has neither", spec.Required)
	}
}
