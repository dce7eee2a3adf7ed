package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/guildhouse/guildhall/contract"
)

// OpenCeremoniesListing returns the ids of the ceremonies still collecting
// signatures whose witness set lists witnessID, oldest first: the ceremonies a
// change to that person's standing concerns.
func (s *Store) OpenCeremoniesListing(ctx context.Context, witnessID string) ([]string, error) {
	var rows []Ceremony
	// LIKE narrows the rows; the exact match is made on the decoded list ("_"
	// and "%" in an id would otherwise match more).
	if err := s.DB.NewSelect().Model(&rows).Column("id", "witness_ids").
		Where("status = ?", string(contract.StatusCollecting)).
		Where("witness_ids LIKE ?", "%"+jsonText(witnessID)+"%").
		Order("opened_at ASC", "id ASC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("open ceremonies listing %s: %w", witnessID, err)
	}
	out := []string{}
	for _, c := range rows {
		if slices.Contains(c.WitnessIDs, witnessID) {
			out = append(out, c.ID)
		}
	}
	return out, nil
}

// TemplateVersions returns every version of a template, newest first; none is
// ErrNotFound.
func (s *Store) TemplateVersions(ctx context.Context, name string) ([]TemplateRow, error) {
	var out []TemplateRow
	if err := s.DB.NewSelect().Model(&out).Where("name = ?", name).Order("version DESC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("versions of template %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("template %s: %w", name, ErrNotFound)
	}
	return out, nil
}
