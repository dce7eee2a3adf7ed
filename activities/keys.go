package activities

import (
	"context"

	"github.com/guildhouse/guildhall/statement"
)

// LoadWitnessKeys returns the registered public keys of the given witnesses
// (ed25519 keys and passkeys), in a stable order, for the sign validator:
// statement.VerifyRequest(state, req, keys, workflow.Now(ctx)). Witnesses
// without keys, or unknown to the Ops DB, simply contribute none.
func (a *Activities) LoadWitnessKeys(ctx context.Context, ids []string) ([]statement.PublicKey, error) {
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
	return out, nil
}
