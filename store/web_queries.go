package store

// Read queries the web app needs beyond the core ones. Kept in their own file so
// the web's needs are visible in one place; each is a single bounded query.

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// OverdueCeremonies returns collecting ceremonies whose deadline has passed
// (the workflow has not expired them yet, or its timer is late), oldest
// deadline first, and how many there are.
func (s *Store) OverdueCeremonies(ctx context.Context, now time.Time, limit int) ([]Ceremony, int, error) {
	if limit <= 0 || limit > 200 {
		limit = 20
	}
	var out []Ceremony
	total, err := s.DB.NewSelect().Model(&out).
		Where("status = ?", "collecting").Where("deadline < ?", now.UTC()).
		Order("deadline ASC", "id ASC").Limit(int64(limit)).ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list overdue ceremonies: %w", err)
	}
	return out, int(total), nil
}

// RecentlyClosed returns the ceremonies that most recently reached one of the
// given statuses (e.g. sealed), newest first.
//
// There is no index on closed_at, so instead of sorting every closed ceremony it
// looks at the ceremonies of the newest status-change custody events (a backward
// scan of the chain's primary key, which follows time) and only falls back to
// the full query when that window does not hold enough of them. An index on
// ceremonies (status, closed_at DESC) would make the plain query as cheap.
func (s *Store) RecentlyClosed(ctx context.Context, statuses []string, limit int) ([]Ceremony, error) {
	if limit <= 0 || limit > 200 {
		limit = 10
	}
	closed := func(q *bun.SelectQuery) *bun.SelectQuery {
		q = q.Where("closed_at IS NOT NULL").Order("closed_at DESC", "id ASC").Limit(int64(limit))
		if len(statuses) > 0 {
			q = q.Where("status IN (?)", bun.List(statuses))
		}
		return q
	}
	// Widen the window of recent status changes until it holds enough.
	for _, window := range []int{50, 1000} {
		var ids []string
		if err := s.DB.NewSelect().Model((*CustodyEvent)(nil)).Column("ceremony_id").
			Where("type = ?", "ceremony.status_changed").Order("seq DESC").Limit(int64(window)).Scan(ctx, &ids); err != nil {
			return nil, fmt.Errorf("list recent status changes: %w", err)
		}
		var out []Ceremony
		if len(ids) > 0 {
			if err := closed(s.DB.NewSelect().Model(&out).Where("id IN (?)", bun.List(ids))).Scan(ctx); err != nil {
				return nil, fmt.Errorf("list recently closed ceremonies: %w", err)
			}
		}
		if len(out) >= limit || len(ids) < window {
			return out, nil // enough, or the window already covered every status change
		}
	}
	var out []Ceremony
	if err := closed(s.DB.NewSelect().Model(&out)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("list recently closed ceremonies: %w", err)
	}
	return out, nil
}

// CustodyAfter returns up to limit custody links with seq > afterSeq, in order
// (incremental chain verification).
func (s *Store) CustodyAfter(ctx context.Context, afterSeq int64, limit int) ([]CustodyEvent, error) {
	if limit <= 0 {
		limit = 1000
	}
	var out []CustodyEvent
	if err := s.DB.NewSelect().Model(&out).Where("seq > ?", afterSeq).Order("seq ASC").Limit(int64(limit)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("read custody chain after seq %d: %w", afterSeq, err)
	}
	return out, nil
}

// CustodyFilter narrows ListCustody.
type CustodyFilter struct {
	Types []string // empty: all
	// BeforeSeq pages backwards: only links with seq < BeforeSeq (0: from the head).
	BeforeSeq int64
	Limit     int
}

// ListCustody returns custody links newest first, paged by seq (keyset, so deep
// pages cost the same as the first).
func (s *Store) ListCustody(ctx context.Context, f CustodyFilter) ([]CustodyEvent, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	var out []CustodyEvent
	q := s.DB.NewSelect().Model(&out).Order("seq DESC").Limit(int64(f.Limit))
	if f.BeforeSeq > 0 {
		q = q.Where("seq < ?", f.BeforeSeq)
	}
	if len(f.Types) > 0 {
		q = q.Where("type IN (?)", bun.List(f.Types))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("list custody events: %w", err)
	}
	return out, nil
}

// ArtifactCustody lists the custody events of one artifact, and of the
// ceremonies about it, in seq order.
func (s *Store) ArtifactCustody(ctx context.Context, digest string, limit int) ([]CustodyEvent, error) {
	if limit <= 0 || limit > 2000 {
		limit = 500
	}
	var out []CustodyEvent
	err := s.DB.NewSelect().Model(&out).
		WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("artifact_digest = ?", digest).
				WhereOr("ceremony_id IN (?)", s.DB.NewSelect().Model((*Ceremony)(nil)).Column("id").Where("artifact_digest = ?", digest))
		}).Order("seq ASC").Limit(int64(limit)).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("custody events of artifact %s: %w", digest, err)
	}
	return out, nil
}

// CeremoniesOfArtifact lists the ceremonies about one artifact, newest first.
func (s *Store) CeremoniesOfArtifact(ctx context.Context, digest string, limit int) ([]Ceremony, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	var out []Ceremony
	if err := s.DB.NewSelect().Model(&out).Where("artifact_digest = ?", digest).
		Order("opened_at DESC", "id ASC").Limit(int64(limit)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("ceremonies of artifact %s: %w", digest, err)
	}
	return out, nil
}

// CeremonyChange is a ceremony's change marker, for live updates.
type CeremonyChange struct {
	ID        string    `bun:"id"`
	Status    string    `bun:"status"`
	Approvals int       `bun:"approvals"`
	UpdatedAt time.Time `bun:"updated_at"`
}

// CeremoniesChangedSince returns ceremonies updated after since, oldest change
// first, so a poller can advance its cursor to the last one it saw.
func (s *Store) CeremoniesChangedSince(ctx context.Context, since time.Time, limit int) ([]CeremonyChange, error) {
	if limit <= 0 {
		limit = 500
	}
	var out []CeremonyChange
	if err := s.DB.NewSelect().Model((*Ceremony)(nil)).Column("id", "status", "approvals", "updated_at").
		Where("updated_at > ?", since.UTC()).Order("updated_at ASC").Limit(int64(limit)).Scan(ctx, &out); err != nil {
		return nil, fmt.Errorf("ceremonies changed since %s: %w", since.Format(time.RFC3339), err)
	}
	return out, nil
}

// CeremoniesOpenedSince returns ceremonies opened at or after since, oldest
// first, at most limit (posture charts).
func (s *Store) CeremoniesOpenedSince(ctx context.Context, since time.Time, limit int) ([]Ceremony, error) {
	if limit <= 0 || limit > 20000 {
		limit = 5000
	}
	var out []Ceremony
	if err := s.DB.NewSelect().Model(&out).Column("id", "kind", "status", "opened_at", "closed_at", "deadline").
		Where("opened_at >= ?", since.UTC()).Order("opened_at ASC").Limit(int64(limit)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("ceremonies opened since %s: %w", since.Format(time.RFC3339), err)
	}
	return out, nil
}

// QuorumTime is when a ceremony that reached quorum got its deciding approval.
type QuorumTime struct {
	CeremonyID string    `bun:"id"`
	OpenedAt   time.Time `bun:"opened_at"`
	QuorumAt   time.Time `bun:"quorum_at"`
}

// QuorumTimes returns, for ceremonies opened since that reached quorum (status
// quorum_reached or sealed), the time of their last valid approval — signing
// stops at quorum, so that is when quorum was met.
func (s *Store) QuorumTimes(ctx context.Context, since time.Time, limit int) ([]QuorumTime, error) {
	if limit <= 0 || limit > 20000 {
		limit = 5000
	}
	var out []QuorumTime
	err := s.DB.NewSelect().TableExpr("ceremonies AS c").
		Join("JOIN signatures AS s ON s.ceremony_id = c.id AND s.epoch = c.epoch AND s.voided_at IS NULL AND s.decision = 'approve'").
		ColumnExpr("c.id, c.opened_at, max(s.signed_at) AS quorum_at").
		Where("c.status IN ('quorum_reached', 'sealed')").Where("c.opened_at >= ?", since.UTC()).
		GroupExpr("c.id, c.opened_at").OrderExpr("c.opened_at ASC").Limit(int64(limit)).Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("time to quorum: %w", err)
	}
	return out, nil
}

// ceremonyFilter applies a CeremonyFilter to a query on ceremonies.
func ceremonyFilter(q *bun.SelectQuery, f CeremonyFilter) *bun.SelectQuery {
	if len(f.Statuses) > 0 {
		q = q.Where("status IN (?)", bun.List(f.Statuses))
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	if f.AwaitingWitness != "" {
		q = q.Where("pending_ids LIKE ?", "%"+jsonText(f.AwaitingWitness)+"%")
	}
	return q
}
