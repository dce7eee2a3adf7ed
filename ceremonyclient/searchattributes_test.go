package ceremonyclient_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/testenv"
)

// TestSearchAttributesOnPostgresServer runs the check and the setup against
// the PostgreSQL-backed server (SQL visibility, attributes registered through
// the operator API) with none of the contract's attributes registered: the
// check names all six and the fix, a ceremony cannot open, the setup adds
// them and is idempotent, after which the check passes and the ceremony opens.
// A namespace with a mistyped attribute is refused before anything changes.
func TestSearchAttributesOnPostgresServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	srv, err := testenv.StartTemporalKind(ctx, testenv.Postgres, testenv.TemporalOptions{NoSearchAttributes: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := srv.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cc := ceremonyclient.New(c)

	err = cc.CheckSearchAttributes(ctx, "default")
	var sae *ceremonyclient.SearchAttributesError
	if !errors.As(err, &sae) || len(sae.Wrong) != len(contract.SearchAttributeTypes) {
		t.Fatalf("check on a bare namespace: %v, want all %d missing", err, len(contract.SearchAttributeTypes))
	}
	for _, sa := range contract.SearchAttributeTypes {
		if !strings.Contains(err.Error(), sa[0]+" ("+sa[1]+") is missing") {
			t.Errorf("message does not name %s (%s): %s", sa[0], sa[1], err)
		}
	}
	if !strings.Contains(err.Error(), "`guildhall temporal setup`") {
		t.Errorf("message does not name the fix: %s", err)
	}
	t.Logf("check: %s", err)

	// Without the check, this is where a cluster that was never set up fails.
	sp := contract.Spec{ID: "sa/first", Kind: contract.KindRelease, Artifact: contract.Artifact{Name: "a", Digest: "sha256:" + strings.Repeat("0", 64)},
		Initiator: "ivy", Witnesses: []contract.WitnessRef{{ID: "alice"}}, Quorum: contract.Quorum{Threshold: 1}, Deadline: time.Now().Add(time.Hour)}
	if _, err := cc.Open(ctx, sp); err == nil || !strings.Contains(err.Error(), "search attribute") {
		t.Fatalf("opening a ceremony without the attributes: %v, want a search attribute error", err)
	}

	sas, err := cc.EnsureSearchAttributes(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range sas {
		if !a.Added || a.Registered != a.Type {
			t.Errorf("setup: %+v, want added with type %s", a, a.Type)
		}
	}
	if err := cc.CheckSearchAttributes(ctx, "default"); err != nil {
		t.Fatalf("check after setup: %v", err)
	}
	again, err := cc.EnsureSearchAttributes(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range again {
		if a.Added || a.Registered != a.Type {
			t.Errorf("second setup: %+v, want nothing added", a)
		}
	}
	if _, err := cc.Open(ctx, sp); err != nil {
		t.Fatalf("open after setup: %v", err)
	}

	// A namespace where CeremonyDeadline was registered as a Keyword.
	if _, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: "mistyped", WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: "mistyped",
			SearchAttributes: map[string]enumspb.IndexedValueType{contract.SACeremonyDeadline: enumspb.INDEXED_VALUE_TYPE_KEYWORD}})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("add a mistyped attribute: %v", err)
		}
		time.Sleep(250 * time.Millisecond) // the new namespace reaches the frontend's cache
	}
	for ctx.Err() == nil {
		if err = cc.CheckSearchAttributes(ctx, "mistyped"); err != nil && strings.Contains(err.Error(), "CeremonyDeadline is Keyword") {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err == nil || !strings.Contains(err.Error(), "CeremonyDeadline is Keyword, the workflow needs Datetime") || !strings.Contains(err.Error(), "search-attribute remove") {
		t.Fatalf("check of a mistyped attribute: %v", err)
	}
	if _, err := cc.EnsureSearchAttributes(ctx, "mistyped"); err == nil || !strings.Contains(err.Error(), "cannot be changed") {
		t.Fatalf("setup over a mistyped attribute: %v, want a refusal", err)
	}
	now, err := cc.SearchAttributes(ctx, "mistyped")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range now {
		if a.Name != contract.SACeremonyDeadline && !a.Missing() {
			t.Errorf("setup added %s although it refused", a.Name)
		}
	}
}
