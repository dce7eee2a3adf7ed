package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/store/storetest"
)

// The ceremony lifecycle on the package's real server (the dev server, or the
// PostgreSQL-backed one under GUILDHALL_TEST_TEMPORAL=postgres): timers, signals,
// updates, search-attribute upserts and the Ops DB writes all go through the
// server's persistence and visibility. The workflows package covers the same
// decisions in depth with the SDK's test environment; these prove they hold on
// a real server. Quorum: TestOpenSignTwiceReachesQuorum; continue-as-new:
// TestContinueAsNewOnServerSuggestion.

// TestVetoOnServer: one reject from a veto role ends the ceremony rejected.
func TestVetoOnServer(t *testing.T) {
	ts := stackOn(t, dev, storetest.Postgres(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := "it/veto"
	sp := spec(id)
	sp.Quorum = contract.Quorum{Threshold: 2, Roles: map[string]int{"security": 1}, Veto: []string{"security"}}
	run := ts.open(t, sp)
	if _, err := ts.cc.Sign(ctx, id, contract.SignRequest{IdempotencyKey: "b1", WitnessID: "bob", Decision: contract.Approve}); err != nil {
		t.Fatal(err)
	}
	st, err := ts.cc.Sign(ctx, id, contract.SignRequest{IdempotencyKey: "a1", WitnessID: "alice", Decision: contract.Reject, Comment: "wrong digest"})
	if err != nil || st.Status != contract.StatusRejected || st.Reason != "vetoed by alice" {
		t.Fatalf("veto: %v %s %q", err, st.Status, st.Reason)
	}
	var final contract.State
	if err := run.Get(ctx, &final); err != nil || final.Status != contract.StatusRejected {
		t.Fatalf("workflow result %s %v", final.Status, err)
	}
	// A signature after the end is refused.
	if _, err := ts.cc.Sign(ctx, id, contract.SignRequest{IdempotencyKey: "c1", WitnessID: "carol", Decision: contract.Approve}); err == nil {
		t.Fatal("a signature after the veto was accepted")
	}
	expectRow(t, ts, id, contract.StatusRejected, 1)
	expectListed(t, ts, "CeremonyStatus = 'rejected' AND WorkflowId = '"+contract.WorkflowID(id)+"'")
}

// TestExpiryOnServer: reminders at 50, 80 and 95 % of a short window, then the
// deadline expires the ceremony, on the server's timers.
func TestExpiryOnServer(t *testing.T) {
	ts := stackOn(t, dev, storetest.Postgres(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := "it/expiry"
	sp := spec(id)
	sp.Deadline = time.Now().Add(8 * time.Second).UTC()
	run := ts.open(t, sp)
	if _, err := ts.cc.Sign(ctx, id, contract.SignRequest{IdempotencyKey: "a1", WitnessID: "alice", Decision: contract.Approve}); err != nil {
		t.Fatal(err)
	}
	var final contract.State
	if err := run.Get(ctx, &final); err != nil {
		t.Fatal(err)
	}
	if final.Status != contract.StatusExpired || final.RemindersSent != 3 || final.ClosedAt == nil || final.ClosedAt.Before(sp.Deadline) {
		t.Fatalf("final %s reminders %d closed %v (deadline %v)", final.Status, final.RemindersSent, final.ClosedAt, sp.Deadline)
	}
	expectRow(t, ts, id, contract.StatusExpired, 1)
	expectListed(t, ts, "CeremonyStatus = 'expired' AND WorkflowId = '"+contract.WorkflowID(id)+"'")
}

// TestAmendmentOnServer: adding a witness keeps the signatures, changing the
// digest voids them (state, Ops DB and search attributes follow), and the
// ceremony then reaches quorum in the new epoch.
func TestAmendmentOnServer(t *testing.T) {
	ts := stackOn(t, dev, storetest.Postgres(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := "it/amend"
	sp := spec(id)
	sp.Quorum.Threshold = 3
	ts.open(t, sp)
	for _, w := range []string{"alice", "bob"} {
		if _, err := ts.cc.Sign(ctx, id, contract.SignRequest{IdempotencyKey: w + "-1", WitnessID: w, Decision: contract.Approve}); err != nil {
			t.Fatal(err)
		}
	}
	g2 := sp
	g2.Witnesses = append(append([]contract.WitnessRef{}, sp.Witnesses...), contract.WitnessRef{ID: "dave", Role: "legal"})
	g3 := g2
	g3.Artifact.Digest = "sha256:" + strings.Repeat("ab", 32)
	for _, m := range []contract.SpecChanged{
		{IdempotencyKey: "s2", Generation: 2, Spec: g2},
		{IdempotencyKey: "s2", Generation: 2, Spec: g2}, // a repeat changes nothing
		{IdempotencyKey: "s3", Generation: 3, Spec: g3},
	} {
		if err := ts.cc.Signal(ctx, id, contract.SignalSpecChanged, m); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 10*time.Second, "the condition", func() bool {
		st, err := ts.cc.Status(ctx, id)
		return err == nil && st.Generation == 3
	})
	st, err := ts.cc.Status(ctx, id)
	if err != nil || st.Epoch != 1 || len(st.Amendments) != 2 || len(st.Signatures) != 0 || len(st.Voided) != 2 || st.Approvals != 0 {
		t.Fatalf("after amendments: %v epoch %d amendments %d signatures %d voided %d approvals %d",
			err, st.Epoch, len(st.Amendments), len(st.Signatures), len(st.Voided), st.Approvals)
	}
	if a := st.Amendments; a[0].Voided != 0 || a[1].Voided != 2 {
		t.Fatalf("amendments %+v", a)
	}
	expectListed(t, ts, "WorkflowId = '"+contract.WorkflowID(id)+"' AND ArtifactDigest = '"+g3.Artifact.Digest+"' AND PendingWitnesses = 'dave'")
	for _, w := range []string{"alice", "bob", "dave"} {
		st, err = ts.cc.Sign(ctx, id, contract.SignRequest{IdempotencyKey: w + "-2", WitnessID: w, Decision: contract.Approve})
		if err != nil {
			t.Fatal(err)
		}
	}
	if st.Status != contract.StatusQuorumReached || st.Approvals != 3 {
		t.Fatalf("after signing again: %s approvals %d", st.Status, st.Approvals)
	}
	rows, err := ts.s.Signatures(ctx, id)
	live := 0
	for _, r := range rows {
		if r.VoidedAt == nil {
			live++
		}
	}
	if err != nil || len(rows) != 5 || live != 3 {
		t.Fatalf("signature rows %d (live %d), want 5 (3): %v", len(rows), live, err)
	}
	types := map[string]int{}
	events, _ := ts.s.CeremonyCustody(ctx, id)
	for _, e := range events {
		types[e.Type]++
	}
	if types["ceremony.amended"] != 2 || types["signatures.voided"] != 1 || types["signature.accepted"] != 5 {
		t.Fatalf("custody events %v", types)
	}
}

// expectRow waits for the Ops DB's ceremony row to reach status with approvals.
func expectRow(t *testing.T, ts *testStack, id string, status contract.Status, approvals int) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "the condition", func() bool {
		row, err := ts.s.GetCeremony(context.Background(), id)
		return err == nil && row.Status == string(status) && row.Approvals == approvals
	})
}

// expectListed waits until the visibility store returns the query's one workflow.
func expectListed(t *testing.T, ts *testStack, query string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "the condition", func() bool {
		resp, err := ts.c.ListWorkflow(context.Background(), listReq(query))
		return err == nil && len(resp.Executions) == 1
	})
}
