package worker_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
	"github.com/guildhouse/guildhall/worker"
)

// dev is the package's Temporal server: the dev server, or the
// PostgreSQL-backed one under GUILDHALL_TEST_TEMPORAL=postgres.
var dev testenv.Temporal

func TestMain(m *testing.M) {
	var err error
	dev, err = testenv.StartTemporal(context.Background(), testenv.TemporalOptions{})
	if err != nil {
		println("integration tests need a Temporal server:", err.Error())
		os.Exit(1)
	}
	println("Temporal server:", dev.Kind(), dev.HostPort())
	code := m.Run()
	dev.Close()
	os.Exit(code)
}

// stack runs a real worker against the dev server and a fresh Postgres Ops DB.
func stack(t *testing.T) (*ceremonyclient.Client, *store.Store) {
	t.Helper()
	ctx := context.Background()
	c, err := dev.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s := storetest.Postgres(t)
	w := worker.New(c, &activities.Activities{Store: s}, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return ceremonyclient.New(c), s
}

func spec(id string) contract.Spec {
	return contract.Spec{
		ID: id, Kind: contract.KindRelease,
		Artifact:  contract.Artifact{Name: "app", Digest: "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"},
		Initiator: "ivy",
		Witnesses: []contract.WitnessRef{{ID: "alice", Role: "security"}, {ID: "bob", Role: "release"}, {ID: "carol"}},
		Quorum:    contract.Quorum{Threshold: 2},
		Deadline:  time.Now().Add(time.Hour).UTC(),
	}
}

func TestOpenSignTwiceReachesQuorum(t *testing.T) {
	cc, s := stack(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := "it/open-sign-twice"
	if _, err := cc.Open(ctx, spec(id)); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Open(ctx, spec(id)); !errors.Is(err, ceremonyclient.ErrAlreadyOpen) {
		t.Fatalf("second open: %v, want ErrAlreadyOpen", err)
	}
	st, err := cc.Sign(ctx, id, contract.SignRequest{IdempotencyKey: "a1", WitnessID: "alice", Decision: contract.Approve, Comment: "ok"})
	if err != nil || st.Status != contract.StatusCollecting || st.Approvals != 1 {
		t.Fatalf("first sign: %v %+v", err, st)
	}
	_, err = cc.Sign(ctx, id, contract.SignRequest{IdempotencyKey: "m1", WitnessID: "mallory", Decision: contract.Approve})
	var rej *contract.Rejection
	if !errors.As(err, &rej) || rej.Code != "unknown_witness" {
		t.Fatalf("non-witness sign: %v", err)
	}
	// A refused update is answered, not recorded (validators run before history);
	// a refused signal has no caller to answer, so it is recorded.
	if err := cc.Signal(ctx, id, contract.SignalWitnessSignature, map[string]string{"witnessId": "alice"}); err != nil {
		t.Fatal(err)
	}
	st, err = cc.Sign(ctx, id, contract.SignRequest{IdempotencyKey: "b1", WitnessID: "bob", Decision: contract.Approve})
	if err != nil || st.Status != contract.StatusQuorumReached {
		t.Fatalf("second sign: %v %+v", err, st)
	}
	st, err = cc.Status(ctx, id)
	if err != nil || st.Status != contract.StatusQuorumReached || len(st.Signatures) != 2 {
		t.Fatalf("status query: %v %+v", err, st)
	}
	sigs, err := s.Signatures(ctx, id)
	if err != nil || len(sigs) != 2 {
		t.Fatalf("signature rows: %d %v", len(sigs), err)
	}
	row, err := s.GetCeremony(ctx, id)
	if err != nil || row.Status != "quorum_reached" || row.Approvals != 2 {
		t.Fatalf("ceremony row: %+v %v", row, err)
	}
	events, _ := s.CeremonyCustody(ctx, id)
	types := map[string]int{}
	for _, e := range events {
		types[e.Type]++
	}
	if types["ceremony.opened"] != 1 || types["signature.accepted"] != 2 || types["ceremony.status_changed"] != 1 || types["message.rejected"] != 1 {
		t.Fatalf("custody events by type: %v", types)
	}
	// The search attributes follow the state, so operators can filter on them.
	testenv.Eventually(t, 10*time.Second, "the search attributes to follow the state", func() bool {
		es, err := cc.List(ctx, "CeremonyStatus = 'quorum_reached' AND WorkflowId = '"+contract.WorkflowID(id)+"'")
		return err == nil && len(es) == 1
	})
}

var _ client.Client
