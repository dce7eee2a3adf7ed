package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/store/storetest"
	"github.com/guildhouse/guildhall/workflows"
)

// readmeDigest is the artifact the README's filters and demo ceremony name.
const readmeDigest = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"

// fixture is one ceremony of TestReadmeListFilters, in the state it is brought to.
type fixture struct {
	name      string
	kind      string
	digest    string
	witnesses []contract.WitnessRef
	deadline  time.Time
	status    contract.Status
	pending   []string // while open
	attention string
}

// readmeFilters says, for each query of the README's list-filter table, which
// fixtures it must return. A query added to or changed in the README fails the
// test until it is described here.
var readmeFilters = map[string]func(f fixture) bool{
	"CeremonyStatus = 'collecting' AND PendingWitnesses = 'bob@guildhouse.dev'": func(f fixture) bool {
		return f.status == contract.StatusCollecting && slices.Contains(f.pending, "bob@guildhouse.dev")
	},
	"CeremonyStatus IN ('collecting', 'quorum_reached')": func(f fixture) bool {
		return f.status == contract.StatusCollecting || f.status == contract.StatusQuorumReached
	},
	"CeremonyAttention = 'substrate_timeout'": func(f fixture) bool { return f.attention == contract.AttentionSubstrateTimeout },
	"ArtifactDigest = '" + readmeDigest + "'": func(f fixture) bool { return f.digest == readmeDigest },
	"CeremonyKind = 'release' AND CeremonyStatus = 'collecting' AND CeremonyDeadline < '2026-12-31T00:00:00Z'": func(f fixture) bool {
		return f.kind == contract.KindRelease && f.status == contract.StatusCollecting &&
			f.deadline.Before(time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC))
	},
	"CeremonyStatus IN ('rejected', 'expired', 'cancelled')": func(f fixture) bool {
		return f.status == contract.StatusRejected || f.status == contract.StatusExpired || f.status == contract.StatusCancelled
	},
}

// readmeListQueries returns the queries of the README's list-filter table.
func readmeListQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| to see | query |")
	if !ok {
		t.Fatal("README.md has no list-filter table")
	}
	var qs []string
	for _, line := range strings.Split(table, "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		qs = append(qs, strings.Trim(strings.TrimSpace(strings.Split(line, "|")[2]), "`"))
	}
	if len(qs) < 4 {
		t.Fatalf("only %d filters found", len(qs))
	}
	return qs
}

// TestReadmeListFilters brings ceremonies into every state the README's filters
// distinguish (collecting and waiting on Bob, collecting with a late deadline,
// at quorum with the substrate silent past its timeout, vetoed, cancelled),
// then runs each query of the table exactly as written through the temporal
// CLI and checks it returns exactly the ceremonies it should, among this
// test's. (Other tests' ceremonies on the same server are ignored.)
func TestReadmeListFilters(t *testing.T) {
	bin, err := testenv.TemporalBinary()
	if err != nil {
		t.Fatal(err)
	}
	queries := readmeListQueries(t)
	for _, q := range queries {
		if readmeFilters[q] == nil {
			t.Fatalf("README filter %q has no expectation in readmeFilters: describe which ceremonies it returns", q)
		}
	}
	ts := stackOn(t, dev, storetest.Postgres(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	prefix := fmt.Sprintf("lf%d", time.Now().UnixNano()%1e9)
	alice := contract.WitnessRef{ID: "alice@guildhouse.dev", Role: "security"}
	bob := contract.WitnessRef{ID: "bob@guildhouse.dev", Role: "release"}
	carol := contract.WitnessRef{ID: "carol@guildhouse.dev", Role: "release"}
	soon, late := time.Now().Add(2*time.Hour).UTC().Truncate(time.Second), time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC)
	fixtures := []fixture{
		{name: "waiting-on-bob", kind: contract.KindRelease, digest: readmeDigest, witnesses: []contract.WitnessRef{alice, bob}, deadline: soon,
			status: contract.StatusCollecting, pending: []string{"bob@guildhouse.dev"}},
		{name: "late-release", kind: contract.KindRelease, digest: "sha256:" + strings.Repeat("1", 64), witnesses: []contract.WitnessRef{carol}, deadline: late,
			status: contract.StatusCollecting, pending: []string{"carol@guildhouse.dev"}},
		{name: "substrate-silent", kind: contract.KindKeyRotation, digest: "sha256:" + strings.Repeat("2", 64), witnesses: []contract.WitnessRef{alice, bob, carol}, deadline: soon,
			status: contract.StatusQuorumReached, pending: []string{"carol@guildhouse.dev"}, attention: contract.AttentionSubstrateTimeout},
		{name: "vetoed", kind: contract.KindRelease, digest: readmeDigest, witnesses: []contract.WitnessRef{alice, bob}, deadline: soon,
			status: contract.StatusRejected, pending: []string{"bob@guildhouse.dev"}},
		{name: "cancelled", kind: contract.KindRelease, digest: "sha256:" + strings.Repeat("3", 64), witnesses: []contract.WitnessRef{bob}, deadline: soon,
			status: contract.StatusCancelled, pending: []string{"bob@guildhouse.dev"}},
	}
	for _, f := range fixtures {
		id := prefix + "/" + f.name
		sp := contract.Spec{ID: id, Kind: f.kind, Artifact: contract.Artifact{Name: "app", Digest: f.digest}, Initiator: "ivy@guildhouse.dev",
			Witnesses: f.witnesses, Quorum: contract.Quorum{Threshold: min(2, len(f.witnesses))}, Deadline: f.deadline}
		if f.name == "vetoed" {
			sp.Quorum.Veto = []string{"security"}
		}
		if f.attention != "" {
			ts.open(t, sp, &workflows.Continued{Tuning: workflows.Tuning{DecisionTimeout: time.Second}})
		} else {
			ts.open(t, sp)
		}
		sign := func(w string, d contract.Decision) {
			t.Helper()
			if _, err := ts.cc.Sign(ctx, id, contract.SignRequest{IdempotencyKey: f.name + w, WitnessID: w, Decision: d}); err != nil {
				t.Fatalf("%s: sign as %s: %v", f.name, w, err)
			}
		}
		switch f.name {
		case "waiting-on-bob":
			sign(alice.ID, contract.Approve)
		case "substrate-silent":
			sign(alice.ID, contract.Approve)
			sign(bob.ID, contract.Approve)
		case "vetoed":
			sign(alice.ID, contract.Reject)
		case "cancelled":
			if err := ts.cc.Signal(ctx, id, contract.SignalCancel, contract.Cancel{IdempotencyKey: "c1", By: "operator", Reason: "test"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Each fixture's state, as the workflow reports it, is what the
	// expectations assume.
	for _, f := range fixtures {
		testenv.Eventually(t, 10*time.Second, "the condition", func() bool {
			st, err := ts.cc.Status(ctx, prefix+"/"+f.name)
			open := f.status == contract.StatusCollecting || f.status == contract.StatusQuorumReached
			return err == nil && st.Status == f.status && st.Attention == f.attention && (!open || slices.Equal(st.Pending, f.pending))
		})
	}

	list := func(q string) ([]string, error) {
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(qctx, bin, "workflow", "list", "--query", q, "--address", dev.HostPort(), "--output", "json").Output()
		if err != nil {
			return nil, fmt.Errorf("%w: %s", err, out)
		}
		var rows []struct {
			Execution struct {
				WorkflowID string `json:"workflowId"`
			} `json:"execution"`
		}
		if err := json.Unmarshal(out, &rows); err != nil {
			return nil, fmt.Errorf("temporal workflow list output: %w\n%s", err, out)
		}
		var mine []string
		for _, r := range rows {
			if id, ok := contract.CeremonyIDFromWorkflowID(r.Execution.WorkflowID); ok && strings.HasPrefix(id, prefix+"/") {
				mine = append(mine, strings.TrimPrefix(id, prefix+"/"))
			}
		}
		slices.Sort(mine)
		return mine, nil
	}
	for _, q := range queries {
		var want []string
		for _, f := range fixtures {
			if readmeFilters[q](f) {
				want = append(want, f.name)
			}
		}
		slices.Sort(want)
		// Visibility follows the workflows' upserts asynchronously.
		var got []string
		deadline := time.Now().Add(20 * time.Second)
		for {
			if got, err = list(q); err != nil {
				t.Fatalf("filter %q: %v", q, err)
			}
			if slices.Equal(got, want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if !slices.Equal(got, want) {
			t.Errorf("filter %q returned %v, want %v", q, got, want)
		} else {
			t.Logf("%-100s → %v", q, got)
		}
	}
}
