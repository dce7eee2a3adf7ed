package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 123456000, time.UTC)

func spec(id string) contract.Spec {
	return contract.Spec{
		ID: id, Kind: contract.KindRelease,
		Artifact:  contract.Artifact{Name: "app", Digest: "sha256:" + repeat("ab", 32)},
		Initiator: "ivy",
		Witnesses: []contract.WitnessRef{{ID: "alice", Role: "security"}, {ID: "bob", Role: "release"}},
		Quorum:    contract.Quorum{Threshold: 2}, Deadline: t0.Add(48 * time.Hour),
	}
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

func verifyChain(t *testing.T, s *store.Store) int64 {
	t.Helper()
	v := custody.NewVerifier()
	if err := s.WalkChain(context.Background(), 3, func(e store.CustodyEvent) error { return v.Next(e.Link()) }); err != nil {
		t.Fatalf("chain does not verify: %v", err)
	}
	return v.Count
}

func TestCeremonyWritesAreIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		o := store.Opened{Spec: spec("default/rel-1"), WorkflowID: "ceremony/default/rel-1", RunID: "r1", OpenedAt: t0, Pending: []string{"alice", "bob"}}
		for range 2 {
			if err := s.RecordOpened(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		sig := contract.Signature{WitnessID: "alice", Decision: contract.Approve, SignedAt: t0.Add(time.Minute), IdempotencyKey: "k1"}
		for range 3 {
			if err := s.RecordSignature(ctx, "default/rel-1", sig, store.Tally{Approvals: 1, Pending: []string{"bob"}}); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			if err := s.RecordStatus(ctx, "default/rel-1", store.StatusChange{Status: contract.StatusQuorumReached, At: t0.Add(2 * time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		sigs, err := s.Signatures(ctx, "default/rel-1")
		if err != nil || len(sigs) != 1 {
			t.Fatalf("signatures = %d, %v; want exactly 1", len(sigs), err)
		}
		c, err := s.GetCeremony(ctx, "default/rel-1")
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != "quorum_reached" || c.Approvals != 1 || len(c.PendingIDs) != 1 || c.PendingIDs[0] != "bob" {
			t.Fatalf("ceremony row = %+v", c)
		}
		events, _ := s.CeremonyCustody(ctx, "default/rel-1")
		// artifact proposed, opened, signature, status, artifact attested
		if len(events) != 5 {
			t.Fatalf("custody events = %d, want 5: %+v", len(events), events)
		}
		if n := verifyChain(t, s); n != 6 { // + genesis
			t.Fatalf("verified %d links, want 6", n)
		}
		list, total, err := s.ListCeremonies(ctx, store.CeremonyFilter{AwaitingWitness: "bob"})
		if err != nil || total != 1 || len(list) != 1 {
			t.Fatalf("awaiting bob: %d %d %v", total, len(list), err)
		}
		_, total, _ = s.ListCeremonies(ctx, store.CeremonyFilter{AwaitingWitness: "alice"})
		if total != 0 {
			t.Fatalf("alice already signed but listed as awaited")
		}
	})
}

func TestCustodyIsAppendOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if _, err := s.AppendCustody(ctx, store.NewEvent{Type: "test", IdempotencyKey: "a", OccurredAt: t0}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB.ExecContext(ctx, "UPDATE custody_events SET actor = 'mallory'"); err == nil {
			t.Fatal("UPDATE of custody_events succeeded")
		}
		if _, err := s.DB.ExecContext(ctx, "DELETE FROM custody_events"); err == nil {
			t.Fatal("DELETE of custody_events succeeded")
		}
		verifyChain(t, s)
	})
}

func TestConcurrentAppendsKeepOneChain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const writers, each = 10, 5
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					_, err := s.AppendCustody(ctx, store.NewEvent{Type: "test", IdempotencyKey: keyOf(w, i), OccurredAt: t0})
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := verifyChain(t, s); n != writers*each+1 {
			t.Fatalf("verified %d links, want %d", n, writers*each+1)
		}
	})
}

func keyOf(w, i int) string { return string(rune('a'+w)) + "-" + string(rune('a'+i)) }

func TestMigrateDownAndUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		// Roll back every migration, newest first, so later migrations that
		// depend on the first one come off before it.
		all, err := s.MigrationStatuses(ctx)
		if err != nil {
			t.Fatal(err)
		}
		down, err := s.MigrateDown(ctx, len(all))
		if err != nil || len(down) != len(all) {
			t.Fatalf("down: %v %v", down, err)
		}
		if _, err := s.GetCeremony(ctx, "x"); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Fatalf("ceremonies table still there after down: %v", err)
		}
		st, err := s.MigrationStatuses(ctx)
		if err != nil || len(st) == 0 || st[0].Applied {
			t.Fatalf("status after down: %+v %v", st, err)
		}
		up, err := s.MigrateUp(ctx)
		if err != nil || len(up) != len(st) {
			t.Fatalf("up: %v %v", up, err)
		}
	})
}

func TestTwoMigratorsAtOnce(t *testing.T) {
	ctx := context.Background()
	db, err := testenv.CreateDatabase(ctx, "guildhall_test")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Drop(ctx)
	var wg sync.WaitGroup
	applied := make([][]string, 4)
	errs := make([]error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := store.Open(ctx, store.Options{URL: db.URL})
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close()
			applied[i], errs[i] = s.MigrateUp(ctx)
		}()
	}
	wg.Wait()
	total := 0
	for i := range 4 {
		if errs[i] != nil {
			t.Fatalf("migrator %d: %v", i, errs[i])
		}
		total += len(applied[i])
	}
	s, _ := store.Open(ctx, store.Options{URL: db.URL})
	defer s.Close()
	st, _ := s.MigrationStatuses(ctx)
	if total != len(st) {
		t.Fatalf("4 concurrent migrators applied %d migrations in all, want %d (each once)", total, len(st))
	}
}
