package store

import (
	"context"
	"fmt"
)

// CeremonyChainHead returns the ceremony's newest custody event and how many the
// ceremony has: what a CeremonyAttestation cites so the substrate can ask for the
// chain segment behind it.
func (s *Store) CeremonyChainHead(ctx context.Context, ceremonyID string) (CustodyEvent, int64, error) {
	var head CustodyEvent
	if err := s.DB.NewSelect().Model(&head).Where("ceremony_id = ?", ceremonyID).
		Order("seq DESC").Limit(1).Scan(ctx); err != nil {
		return head, 0, notFound(err, "custody events of "+ceremonyID)
	}
	n, err := s.DB.NewSelect().Model((*CustodyEvent)(nil)).Where("ceremony_id = ?", ceremonyID).Count(ctx)
	if err != nil {
		return head, 0, fmt.Errorf("count custody events of %s: %w", ceremonyID, err)
	}
	return head, int64(n), nil
}
