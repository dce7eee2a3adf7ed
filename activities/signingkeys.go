package activities

import (
	"cmp"
	"context"
	"errors"
	"slices"

	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
)

// LoadSigningKeys returns the registered public keys of the given witnesses,
// sorted by witness id, type and key id, for the Ceremony workflow to keep in its
// state: its sign validator verifies statements against them without I/O.
// Unknown witnesses have no keys.
func (a *Activities) LoadSigningKeys(ctx context.Context, ids []string) ([]statement.PublicKey, error) {
	out := []statement.PublicKey{}
	for _, id := range ids {
		w, err := a.Store.GetWitness(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, c := range w.Credentials {
			out = append(out, statement.PublicKey{WitnessID: w.ID, Type: c.Type, KeyID: c.KeyID, PublicKey: c.PublicKey})
		}
	}
	slices.SortFunc(out, func(x, y statement.PublicKey) int {
		return cmp.Or(cmp.Compare(x.WitnessID, y.WitnessID), cmp.Compare(x.Type, y.Type), cmp.Compare(x.KeyID, y.KeyID))
	})
	return out, nil
}
