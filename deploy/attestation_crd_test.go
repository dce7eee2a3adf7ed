package deploy

import (
	"slices"
	"testing"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
)

// The CeremonyAttestation's schema admits every state the workflow writes (a
// status the schema refused would leave the write-back retrying for a day), its
// outcome only results, and as many pending witnesses as a ceremony has.
func TestAttestationSchemaIsTheContract(t *testing.T) {
	spec := crdSpecSchema(t, "CeremonyAttestation")
	var states, outcomes []string
	for _, s := range contract.Statuses {
		states = append(states, string(s))
		if s.Result() {
			outcomes = append(outcomes, string(s))
		}
	}
	if got, want := enumOf(t, spec.Properties["state"]), append(states, "refused"); !slices.Equal(got, want) {
		t.Errorf("state enum %v, the contract says %v", got, want)
	}
	if got := enumOf(t, spec.Properties["outcome"]); !slices.Equal(got, outcomes) {
		t.Errorf("outcome enum %v, the contract says %v", got, outcomes)
	}
	if got := ptrOr(spec.Properties["pending"].MaxItems); got != rules.MaxWitnesses {
		t.Errorf("pending maxItems %d, the rules say %d", got, rules.MaxWitnesses)
	}
	if slices.Contains(spec.Required, "state") || slices.Contains(spec.Required, "outcome") {
		t.Errorf("required %v: a refusal recorded before the workflow's first write has neither", spec.Required)
	}
}
