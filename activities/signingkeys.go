package activities

import (
	"cmp"
	"context"
	"slices"

	"github.com/guildhouse/guildhall/statement"
)

// LoadSigningKeys is the activity the Ceremony workflow runs (at open, at each
// amendment and before accepting a signature) to hold the witnesses' keys in its
// state, sorted by witness id, type and key id. It is LoadWitnessKeys under the
// name the workflow's recorded histories use; keep the name, or version the
// workflow (ARCHITECTURE.md, "Changing the workflow").
func (a *Activities) LoadSigningKeys(ctx context.Context, ids []string) ([]statement.PublicKey, error) {
	keys, err := a.LoadWitnessKeys(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := append([]statement.PublicKey{}, keys...)
	slices.SortFunc(out, func(x, y statement.PublicKey) int {
		return cmp.Or(cmp.Compare(x.WitnessID, y.WitnessID), cmp.Compare(x.Type, y.Type), cmp.Compare(x.KeyID, y.KeyID))
	})
	return out, nil
}
