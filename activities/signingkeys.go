package activities

import (
	"cmp"
	"context"
	"slices"

	"github.com/guildhouse/guildhall/statement"
)

// LoadSigningKeys is the activity the Ceremony workflow runs (at open, at each
// amendment and before accepting a signature) to hold the witnesses' keys in its
// state: their registered ed25519 keys and passkeys, sorted by witness id, type
// and key id. Witnesses without keys, or unknown to the Ops DB, contribute none.
// The name is in the workflow's recorded histories; keep it, or version the
// workflow (ARCHITECTURE.md, "Changing the workflow").
func (a *Activities) LoadSigningKeys(ctx context.Context, ids []string) ([]statement.PublicKey, error) {
	keys, err := a.Store.WitnessKeys(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]statement.PublicKey, 0, len(keys))
	for _, k := range keys {
		if k.Type != statement.KeyEd25519 && k.Type != statement.KeyWebAuthn {
			continue // a credential this version cannot verify with
		}
		out = append(out, statement.PublicKey{WitnessID: k.WitnessID, Type: k.Type, KeyID: k.KeyID, PublicKey: k.PublicKey})
	}
	slices.SortFunc(out, func(x, y statement.PublicKey) int {
		return cmp.Or(cmp.Compare(x.WitnessID, y.WitnessID), cmp.Compare(x.Type, y.Type), cmp.Compare(x.KeyID, y.KeyID))
	})
	return out, nil
}
