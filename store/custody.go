package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/guildhouse/guildhall/custody"
)

// custodyLockKey is the Postgres advisory lock that serialises chain appends so
// concurrent activities never fork the chain.
const custodyLockKey = 0x63757374 // "cust"

// NewEvent is a custody event to append.
type NewEvent struct {
	Type           string
	CeremonyID     string
	ArtifactDigest string
	Actor          string
	// IdempotencyKey makes the append safe to retry: a second append with the same
	// key returns the first one and writes nothing.
	IdempotencyKey string
	OccurredAt     time.Time
	Data           any
}

// AppendCustody appends one event to the chain in its own transaction.
func (s *Store) AppendCustody(ctx context.Context, e NewEvent) (CustodyEvent, error) {
	var out CustodyEvent
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		out, _, err = s.appendCustody(ctx, tx, e)
		return err
	})
	return out, err
}

// appendCustody appends within tx. It reports whether a new link was written.
func (s *Store) appendCustody(ctx context.Context, tx bun.Tx, e NewEvent) (CustodyEvent, bool, error) {
	if e.IdempotencyKey == "" {
		return CustodyEvent{}, false, errors.New("custody event needs an idempotency key")
	}
	if err := s.lockChain(ctx, tx); err != nil {
		return CustodyEvent{}, false, err
	}
	var existing CustodyEvent
	err := tx.NewSelect().Model(&existing).Where("idempotency_key = ?", e.IdempotencyKey).Scan(ctx)
	if err == nil {
		return existing, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return CustodyEvent{}, false, fmt.Errorf("look up custody event %s: %w", e.IdempotencyKey, err)
	}
	head, err := s.chainHead(ctx, tx, e.OccurredAt)
	if err != nil {
		return CustodyEvent{}, false, err
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return CustodyEvent{}, false, fmt.Errorf("encode custody data: %w", err)
	}
	if e.Data == nil {
		data = nil
	}
	row, err := s.insertLink(ctx, tx, custody.Event{
		Seq: head.Seq + 1, Type: e.Type, CeremonyID: e.CeremonyID, ArtifactDigest: e.ArtifactDigest,
		Actor: e.Actor, IdempotencyKey: e.IdempotencyKey, OccurredAt: custody.FormatTime(e.OccurredAt),
		Data: data, PrevHash: head.Hash,
	})
	return row, err == nil, err
}

func (s *Store) lockChain(ctx context.Context, tx bun.Tx) error {
	if s.Dialect != Postgres {
		return nil // the single SQLite connection already serialises writers
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", custodyLockKey); err != nil {
		return fmt.Errorf("lock custody chain: %w", err)
	}
	return nil
}

// chainHead returns the last link, writing the genesis link first if the chain
// is empty.
func (s *Store) chainHead(ctx context.Context, tx bun.Tx, at time.Time) (CustodyEvent, error) {
	var head CustodyEvent
	err := tx.NewSelect().Model(&head).Order("seq DESC").Limit(1).Scan(ctx)
	if err == nil {
		return head, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return head, fmt.Errorf("read custody chain head: %w", err)
	}
	return s.insertLink(ctx, tx, custody.Event{
		Seq: 0, Type: custody.TypeGenesis, IdempotencyKey: "genesis",
		OccurredAt: custody.FormatTime(at), PrevHash: custody.ZeroHash,
	})
}

func (s *Store) insertLink(ctx context.Context, tx bun.Tx, e custody.Event) (CustodyEvent, error) {
	row, err := sealRow(e)
	if err != nil {
		return CustodyEvent{}, err
	}
	if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
		return CustodyEvent{}, fmt.Errorf("append custody event %d (%s): %w", e.Seq, e.Type, err)
	}
	return row, nil
}

// sealRow canonicalises and hashes an event into the row that stores it.
func sealRow(e custody.Event) (CustodyEvent, error) {
	body, hash, err := custody.Seal(e)
	if err != nil {
		return CustodyEvent{}, err
	}
	at, _ := time.Parse(custody.TimeLayout, e.OccurredAt)
	return CustodyEvent{
		Seq: e.Seq, Type: e.Type, CeremonyID: nonEmpty(e.CeremonyID), ArtifactDigest: nonEmpty(e.ArtifactDigest),
		Actor: e.Actor, IdempotencyKey: e.IdempotencyKey, OccurredAt: at, Body: string(body),
		PrevHash: e.PrevHash, Hash: hash,
	}, nil
}

// AppendCustodyBatch appends many events in one transaction under one lock, in
// order, skipping any whose idempotency key is already on the chain (bulk
// imports, and filling large chains for benchmarks). It returns how many links
// it wrote.
func (s *Store) AppendCustodyBatch(ctx context.Context, events []NewEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	written := 0
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		written = 0
		if err := s.lockChain(ctx, tx); err != nil {
			return err
		}
		head, err := s.chainHead(ctx, tx, events[0].OccurredAt)
		if err != nil {
			return err
		}
		skip := map[string]bool{}
		const chunk = 500
		for i := 0; i < len(events); i += chunk {
			keys := make([]string, 0, chunk)
			for _, e := range events[i:min(i+chunk, len(events))] {
				if e.IdempotencyKey == "" {
					return errors.New("custody event needs an idempotency key")
				}
				keys = append(keys, e.IdempotencyKey)
			}
			var have []string
			if err := tx.NewSelect().Model((*CustodyEvent)(nil)).Column("idempotency_key").
				Where("idempotency_key IN (?)", bun.List(keys)).Scan(ctx, &have); err != nil {
				return fmt.Errorf("look up custody events: %w", err)
			}
			for _, k := range have {
				skip[k] = true
			}
		}
		rows := make([]CustodyEvent, 0, chunk)
		flush := func() error {
			if len(rows) == 0 {
				return nil
			}
			if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
				return fmt.Errorf("append custody events %d..%d: %w", rows[0].Seq, rows[len(rows)-1].Seq, err)
			}
			written += len(rows)
			rows = rows[:0]
			return nil
		}
		for _, e := range events {
			if skip[e.IdempotencyKey] {
				continue
			}
			skip[e.IdempotencyKey] = true
			var data json.RawMessage
			if e.Data != nil {
				if data, err = json.Marshal(e.Data); err != nil {
					return fmt.Errorf("encode custody data: %w", err)
				}
			}
			row, err := sealRow(custody.Event{
				Seq: head.Seq + 1, Type: e.Type, CeremonyID: e.CeremonyID, ArtifactDigest: e.ArtifactDigest,
				Actor: e.Actor, IdempotencyKey: e.IdempotencyKey, OccurredAt: custody.FormatTime(e.OccurredAt),
				Data: data, PrevHash: head.Hash,
			})
			if err != nil {
				return err
			}
			rows = append(rows, row)
			head = row
			if len(rows) == chunk {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	})
	return written, err
}

// CustodyLink returns the link with this seq.
func (s *Store) CustodyLink(ctx context.Context, seq int64) (CustodyEvent, error) {
	var e CustodyEvent
	if err := s.DB.NewSelect().Model(&e).Where("seq = ?", seq).Scan(ctx); err != nil {
		return e, notFound(err, fmt.Sprintf("custody event %d", seq))
	}
	return e, nil
}

// CustodyRange returns the links from seq `from` to seq `to`, both included, in
// order (evidence bundles).
func (s *Store) CustodyRange(ctx context.Context, from, to int64) ([]CustodyEvent, error) {
	var out []CustodyEvent
	if err := s.DB.NewSelect().Model(&out).Where("seq >= ? AND seq <= ?", from, to).Order("seq ASC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("read custody events %d..%d: %w", from, to, err)
	}
	return out, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Link converts a stored row for custody verification.
func (c CustodyEvent) Link() custody.Link {
	return custody.Link{Seq: c.Seq, Type: c.Type, Body: []byte(c.Body), PrevHash: c.PrevHash, Hash: c.Hash}
}

// ChainHead returns the newest link, or ErrNotFound for an empty chain.
func (s *Store) ChainHead(ctx context.Context) (CustodyEvent, error) {
	var head CustodyEvent
	err := s.DB.NewSelect().Model(&head).Order("seq DESC").Limit(1).Scan(ctx)
	if err != nil {
		return head, notFound(err, "custody chain head")
	}
	return head, nil
}

// WalkChain calls fn for every link in seq order, in pages, so chains of any
// length are read in bounded memory.
func (s *Store) WalkChain(ctx context.Context, pageSize int, fn func(CustodyEvent) error) error {
	if pageSize <= 0 {
		pageSize = 5000
	}
	after := int64(-1)
	for {
		var page []CustodyEvent
		if err := s.DB.NewSelect().Model(&page).Where("seq > ?", after).Order("seq ASC").Limit(int64(pageSize)).Scan(ctx); err != nil {
			return fmt.Errorf("read custody chain after seq %d: %w", after, err)
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			return nil
		}
		after = page[len(page)-1].Seq
	}
}

// CeremonyCustody lists the custody events of one ceremony in seq order.
func (s *Store) CeremonyCustody(ctx context.Context, ceremonyID string) ([]CustodyEvent, error) {
	var out []CustodyEvent
	err := s.DB.NewSelect().Model(&out).Where("ceremony_id = ?", ceremonyID).Order("seq ASC").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("custody events of %s: %w", ceremonyID, err)
	}
	return out, nil
}
