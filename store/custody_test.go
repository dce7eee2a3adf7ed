package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

// TestFiftyConcurrentAppenders: 50 appenders at once on Postgres (the pool has
// fewer connections, so they also queue) leave one chain with no gaps and no
// fork, and every event exactly once.
func TestFiftyConcurrentAppenders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const writers, each = 50, 10
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, 2*writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					// Each event is sent twice, as a retried activity would.
					for range 2 {
						_, err := s.AppendCustody(ctx, store.NewEvent{Type: "test.append", Actor: strconv.Itoa(w),
							IdempotencyKey: fmt.Sprintf("w%d-%d", w, i), OccurredAt: t0, Data: map[string]int{"w": w, "i": i}})
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		res, err := s.VerifyChain(ctx, store.VerifyOptions{})
		if err != nil {
			t.Fatalf("chain does not verify after concurrent appends: %v", err)
		}
		if res.Links != writers*each+1 || res.HeadSeq != writers*each {
			t.Fatalf("chain has %d links up to seq %d, want %d up to %d", res.Links, res.HeadSeq, writers*each+1, writers*each)
		}
		t.Logf("%s: %d appenders, %d events (+%d retries) in %v: %.0f appends/s",
			s.Dialect, writers, writers*each, writers*each, elapsed.Round(time.Millisecond), float64(2*writers*each)/elapsed.Seconds())
	})
}

func TestAppendOnlyIsEnforcedByTheDatabase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if _, err := s.AppendCustody(ctx, store.NewEvent{Type: "test", IdempotencyKey: "a", OccurredAt: t0}); err != nil {
			t.Fatal(err)
		}
		refused := []string{
			"UPDATE custody_events SET body = 'x' WHERE seq = 1",
			"UPDATE custody_events SET seq = 7 WHERE seq = 1",
			"DELETE FROM custody_events WHERE seq = 1",
		}
		if s.Dialect == store.Postgres {
			refused = append(refused, "TRUNCATE custody_events CASCADE", "TRUNCATE chronicle_events")
		}
		for _, q := range refused {
			if _, err := s.DB.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: err = %v, want an append-only refusal", q, err)
			}
		}
		if res, err := s.VerifyChain(ctx, store.VerifyOptions{}); err != nil || res.Links != 2 {
			t.Fatalf("chain after refused tampering: %+v %v", res, err)
		}
	})
}

// fillChain writes n events after genesis.
func fillChain(t testing.TB, s *store.Store, n int) {
	t.Helper()
	events := make([]store.NewEvent, 0, 5000)
	for i := range n {
		events = append(events, benchEvent(i))
		if len(events) == cap(events) || i == n-1 {
			if _, err := s.AppendCustodyBatch(context.Background(), events); err != nil {
				t.Fatal(err)
			}
			events = events[:0]
		}
	}
}

// benchEvent is a realistic link: a signature with its statement and proof.
func benchEvent(i int) store.NewEvent {
	cer := fmt.Sprintf("default/release-%d", i/20)
	return store.NewEvent{
		Type: custody.TypeSignatureAccepted, CeremonyID: cer, Actor: fmt.Sprintf("witness-%d@guildhouse.dev", i%7),
		IdempotencyKey: fmt.Sprintf("signature/%s/0/witness-%d", cer, i), OccurredAt: t0.Add(time.Duration(i) * time.Second),
		Data: map[string]any{"epoch": 0, "decision": "approve", "comment": "checked the digest and the SBOM",
			"statement": `{"artifactDigest":"sha256:` + strings.Repeat("ab", 32) + `","artifactName":"app","ceremonyId":"` + cer +
				`","decision":"approve","issuedAt":"2026-11-27T10:00:00Z","kind":"release","policyHash":"` + strings.Repeat("cd", 32) +
				`","type":"guildhall.statement/v1","witnessId":"witness@guildhouse.dev"}`,
			"proof": map[string]string{"type": "ed25519", "keyId": "ed25519:0123456789abcdef", "signature": strings.Repeat("QUJD", 21) + "QQ=="},
			"via":   "web", "messageKey": fmt.Sprintf("k-%d", i)},
	}
}

// tamper runs SQL as the superuser with the append-only guard switched off, as
// an attacker with database access would.
func tamper(t *testing.T, s *store.Store, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if s.Dialect == store.Postgres {
			if _, err := tx.ExecContext(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
				return err
			}
		} else {
			for _, trg := range []string{"custody_events_no_update", "custody_events_no_delete"} {
				if _, err := tx.ExecContext(ctx, "DROP TRIGGER IF EXISTS "+trg); err != nil {
					return err
				}
			}
		}
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestVerifyNamesTheFirstBadLink(t *testing.T) {
	forged := func(s *store.Store) string {
		head, _ := s.ChainHead(context.Background())
		e := custody.Event{Seq: head.Seq + 1, Type: "ceremony.status_changed", CeremonyID: "default/release-0",
			IdempotencyKey: "forged", OccurredAt: custody.FormatTime(t0), Data: []byte(`{"status":"sealed"}`),
			PrevHash: strings.Repeat("0", 63) + "1"}
		body, hash, _ := custody.Seal(e)
		return fmt.Sprintf("INSERT INTO custody_events (seq, type, ceremony_id, actor, idempotency_key, occurred_at, body, prev_hash, hash) "+
			"VALUES (%d, '%s', 'default/release-0', '', 'forged', '2026-11-27 10:00:00', '%s', '%s', '%s')",
			e.Seq, e.Type, body, e.PrevHash, hash)
	}
	cases := []struct {
		name    string
		sql     func(s *store.Store) []string
		seq     int64
		because string
	}{
		{"payload edited", func(*store.Store) []string {
			return []string{"UPDATE custody_events SET body = replace(body, 'approve', 'reject!') WHERE seq = 10"}
		}, 10, "stored hash does not match the event body"},
		{"payload edited and its hash recomputed", func(s *store.Store) []string {
			e, _ := s.CustodyLink(context.Background(), 10)
			body := strings.Replace(e.Body, "approve", "reject!", 1)
			return []string{fmt.Sprintf("UPDATE custody_events SET body = '%s', hash = '%s' WHERE seq = 10", body, custody.HashBody([]byte(body)))}
		}, 11, "prevHash does not match the previous event's hash"},
		{"row deleted", func(*store.Store) []string { return []string{"DELETE FROM custody_events WHERE seq = 10"} }, 10, "missing: next stored event is seq 11"},
		{"two rows swapped", func(*store.Store) []string {
			return []string{"UPDATE custody_events SET seq = -1 WHERE seq = 10", "UPDATE custody_events SET seq = 10 WHERE seq = 11",
				"UPDATE custody_events SET seq = 11 WHERE seq = -1"}
		}, 10, "body says seq 11"},
		{"hash edited", func(*store.Store) []string {
			return []string{"UPDATE custody_events SET hash = '" + strings.Repeat("e", 64) + "' WHERE seq = 10"}
		}, 10, "stored hash does not match"},
		{"row appended with a forged prev-hash", func(s *store.Store) []string { return []string{forged(s)} }, 31, "prevHash does not match"},
		{"type column edited", func(*store.Store) []string {
			return []string{"UPDATE custody_events SET type = 'ceremony.opened' WHERE seq = 12"}
		}, 12, "type column"},
	}
	for dialect, open := range map[string]func(testing.TB) *store.Store{"postgres": storetest.Postgres, "sqlite": storetest.SQLite} {
		t.Run(dialect, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					s := open(t)
					fillChain(t, s, 30)
					tamper(t, s, c.sql(s)...)
					_, err := s.VerifyChain(context.Background(), store.VerifyOptions{})
					var b *custody.Break
					if !errors.As(err, &b) {
						t.Fatalf("verify = %v, want a broken chain", err)
					}
					if b.Seq != c.seq || !strings.Contains(b.Reason, c.because) {
						t.Fatalf("broken at seq %d (%s); want seq %d, %q", b.Seq, b.Reason, c.seq, c.because)
					}
				})
			}
		})
	}
}

// TestVerifyAfterTriggersDisabled tampers the other way an owner can: switching
// the table's triggers off outright.
func TestVerifyAfterTriggersDisabled(t *testing.T) {
	s := storetest.Postgres(t)
	ctx := context.Background()
	fillChain(t, s, 30)
	for _, q := range []string{"ALTER TABLE custody_events DISABLE TRIGGER USER", "DELETE FROM custody_events WHERE seq = 17",
		"ALTER TABLE custody_events ENABLE TRIGGER USER"} {
		if _, err := s.DB.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.VerifyChain(ctx, store.VerifyOptions{})
	var b *custody.Break
	if !errors.As(err, &b) || b.Seq != 17 || !strings.Contains(b.Reason, "missing") {
		t.Fatalf("verify = %v, want missing seq 17", err)
	}
}

func TestVerifyAnchorsCatchACutChain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fillChain(t, s, 20)
		head, _ := s.ChainHead(ctx)
		anchor := store.Anchor{Seq: head.Seq, Hash: head.Hash}
		byHash := store.Anchor{Seq: -1, Hash: head.Hash}
		if _, err := s.VerifyChain(ctx, store.VerifyOptions{Anchors: []store.Anchor{anchor, byHash}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.VerifyChain(ctx, store.VerifyOptions{Anchors: []store.Anchor{{Seq: -1, Hash: strings.Repeat("a", 64)}}}); err == nil {
			t.Fatal("an anchor hash that is not on the chain was accepted")
		}
		tamper(t, s, "DELETE FROM custody_events WHERE seq >= 15")
		_, err := s.VerifyChain(ctx, store.VerifyOptions{Anchors: []store.Anchor{anchor}})
		var b *custody.Break
		if !errors.As(err, &b) || !strings.Contains(b.Reason, "ends at seq 14") {
			t.Fatalf("verify of a cut chain = %v", err)
		}
	})
}

func TestVerifyReportsProgressAndEmptiness(t *testing.T) {
	s := storetest.SQLite(t)
	ctx := context.Background()
	if _, err := s.VerifyChain(ctx, store.VerifyOptions{}); !errors.Is(err, custody.ErrEmpty) {
		t.Fatalf("empty chain: %v", err)
	}
	fillChain(t, s, 5000)
	var seen []store.Progress
	res, err := s.VerifyChain(ctx, store.VerifyOptions{ProgressEvery: 1000, Progress: func(p store.Progress) { seen = append(seen, p) }})
	if err != nil || res.Links != 5001 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if len(seen) < 4 || seen[len(seen)-1].Verified < 4000 {
		t.Fatalf("progress reports: %+v", seen)
	}
}

// BenchmarkVerifyChain and BenchmarkReadLinks time verifying the chain and a
// plain read of the same rows on Postgres (`go test ./store -bench Chain
// -run '^$'`); `guildhall-bench verify` prints their ratio for a live Ops DB.
// GUILDHALL_TEST_VERIFY_EVENTS sets the chain length (default 20000).
func BenchmarkVerifyChain(b *testing.B) {
	s := benchChain(b)
	for b.Loop() {
		if _, err := s.VerifyChain(context.Background(), store.VerifyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadLinks(b *testing.B) {
	s := benchChain(b)
	for b.Loop() {
		if err := s.ReadLinks(context.Background(), func([]custody.Link) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

func benchChain(b *testing.B) *store.Store {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("GUILDHALL_TEST_VERIFY_EVENTS")); err == nil && v > 0 {
		n = v
	}
	s := storetest.Postgres(b)
	fillChain(b, s, n)
	b.ResetTimer()
	return s
}
