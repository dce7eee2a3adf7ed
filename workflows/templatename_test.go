package workflows_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
)

// An amendment naming a dotted template, which no template can have, is refused
// by the spec check (rules.TemplateNameOK) without asking the Ops DB; a run
// recorded before the change ("template-name-rule") asks ResolveTemplate, as it did then, so
// its history replays.
func TestDottedTemplateNameAmendment(t *testing.T) {
	for _, tc := range []struct {
		name     string
		version  workflow.Version
		resolves int    // ResolveTemplate calls: the opening's, and the amendment's on the old path
		reason   string // in the refusal
	}{
		{"now", 1, 1, "is not a template name"},
		{"recorded before the change", workflow.DefaultVersion, 2, "no template"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			person(t, h.store, "ivy", "initiator")
			person(t, h.store, "alice", "security")
			person(t, h.store, "bob", "release")
			if _, _, err := h.store.ApplyTemplate(context.Background(), rules.Template{Name: "release", Kind: contract.KindRelease,
				Witnesses: rules.TemplateWitnesses{Roles: []string{"security", "release"}},
				Quorum:    contract.Quorum{Threshold: 2}, OpenedBy: []string{"initiator"}}, "test"); err != nil {
				t.Fatal(err)
			}
			h.env.OnGetVersion("template-name-rule", workflow.DefaultVersion, 1).Return(tc.version)
			resolves := 0
			h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
				if info.ActivityType.Name == "ResolveTemplate" {
					resolves++
				}
			})
			spec := testSpec()
			spec.Initiator, spec.Witnesses, spec.Quorum = "ivy", nil, contract.Quorum{}
			spec.Template = &contract.TemplateRef{Name: "release"}
			spec.Source, spec.Generation = "cluster", 1
			amended := spec
			amended.Template = &contract.TemplateRef{Name: "team.release"}
			h.signal(time.Minute, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "g2", Generation: 2, Spec: amended})
			h.signal(2*time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "x", By: "test"})
			h.env.ExecuteWorkflow(contract.WorkflowType, spec)
			st := h.state()
			if st.Generation != 1 || len(st.Rejected) != 1 || !strings.Contains(st.Rejected[0].Reason, tc.reason) {
				t.Fatalf("generation %d, rejected %+v; want generation 1 and one refusal saying %q", st.Generation, st.Rejected, tc.reason)
			}
			if resolves != tc.resolves {
				t.Errorf("ResolveTemplate ran %d times, want %d", resolves, tc.resolves)
			}
		})
	}
}
