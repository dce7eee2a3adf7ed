package store

import (
	"context"
	"fmt"
)

// CeremonyFilter narrows ListCeremonies.
type CeremonyFilter struct {
	Statuses []string
	Kind     string
	// AwaitingWitness keeps ceremonies where this witness has not signed yet.
	AwaitingWitness string
	Limit           int
	Offset          int
}

// ListCeremonies returns one page of ceremonies, newest first, and the total
// number matching the filter.
func (s *Store) ListCeremonies(ctx context.Context, f CeremonyFilter) ([]Ceremony, int, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	var out []Ceremony
	q := ceremonyFilter(s.DB.NewSelect().Model(&out), f).Order("opened_at DESC", "id ASC").Limit(int64(f.Limit)).Offset(int64(f.Offset))
	total, err := q.ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list ceremonies: %w", err)
	}
	return out, int(total), nil
}

// CountByStatus counts ceremonies per status.
func (s *Store) CountByStatus(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		Status string `bun:"status"`
		N      int    `bun:"n"`
	}
	if err := s.DB.NewSelect().Model((*Ceremony)(nil)).Column("status").ColumnExpr("count(*) AS n").
		Group("status").Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("count ceremonies: %w", err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

// GetCeremony returns one ceremony.
func (s *Store) GetCeremony(ctx context.Context, id string) (Ceremony, error) {
	var c Ceremony
	if err := s.DB.NewSelect().Model(&c).Where("id = ?", id).Scan(ctx); err != nil {
		return c, notFound(err, "ceremony "+id)
	}
	return c, nil
}

// Signatures lists a ceremony's signatures (all epochs) in signing order.
func (s *Store) Signatures(ctx context.Context, ceremonyID string) ([]Signature, error) {
	var out []Signature
	if err := s.DB.NewSelect().Model(&out).Where("ceremony_id = ?", ceremonyID).Order("id ASC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("signatures of %s: %w", ceremonyID, err)
	}
	return out, nil
}

// GetWitness returns one witness.
func (s *Store) GetWitness(ctx context.Context, id string) (Witness, error) {
	var w Witness
	if err := s.DB.NewSelect().Model(&w).Where("id = ?", id).Scan(ctx); err != nil {
		return w, notFound(err, "witness "+id)
	}
	return w, nil
}

// ListWitnesses returns all witnesses by display name.
func (s *Store) ListWitnesses(ctx context.Context) ([]Witness, error) {
	var out []Witness
	if err := s.DB.NewSelect().Model(&out).Order("display_name ASC", "id ASC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list witnesses: %w", err)
	}
	return out, nil
}

// ListArtifacts returns artifacts, most recently changed first.
func (s *Store) ListArtifacts(ctx context.Context, limit, offset int) ([]Artifact, int, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	var out []Artifact
	total, err := s.DB.NewSelect().Model(&out).Order("updated_at DESC", "digest ASC").
		Limit(int64(limit)).Offset(int64(offset)).ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list artifacts: %w", err)
	}
	return out, int(total), nil
}

// GetArtifact returns one artifact.
func (s *Store) GetArtifact(ctx context.Context, digest string) (Artifact, error) {
	var a Artifact
	if err := s.DB.NewSelect().Model(&a).Where("digest = ?", digest).Scan(ctx); err != nil {
		return a, notFound(err, "artifact "+digest)
	}
	return a, nil
}
