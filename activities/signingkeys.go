package activities

import (
	"cmp"
	"context"
	"errors"
	"slices"

	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
)

// LoadSigningKeys is the activity the Ceremony workflow runs (at open, at each
// amendment and, before directory-assurance, before accepting a signature) to
// hold the witnesses' keys in its state: their registered ed25519 keys and
// passkeys, and the web's vouching keys when ids holds statement.WebSigner,
// sorted by witness id, type and key id. Witnesses without keys, or unknown to
// the Ops DB, contribute none.
// The name is in the workflow's recorded histories; keep it, or version the
// workflow (ARCHITECTURE.md, "Changing the workflow").
func (a *Activities) LoadSigningKeys(ctx context.Context, ids []string) ([]statement.PublicKey, error) {
	keys, err := a.Store.WitnessKeys(ctx, ids)
	if err != nil {
		return nil, err
	}
	return a.publicKeys(ctx, keys, slices.Contains(ids, statement.WebSigner))
}

// publicKeys are keys the workflow can verify with, and the web's vouching keys
// if withWeb, in LoadSigningKeys's order.
func (a *Activities) publicKeys(ctx context.Context, keys []store.WitnessKey, withWeb bool) ([]statement.PublicKey, error) {
	out := make([]statement.PublicKey, 0, len(keys))
	if withWeb {
		wks, err := a.Store.WebKeys(ctx)
		if err != nil {
			return nil, err
		}
		for _, k := range wks {
			out = append(out, statement.PublicKey{WitnessID: statement.WebSigner, Type: statement.KeyEd25519, KeyID: k.KeyID, PublicKey: k.PublicKey})
		}
	}
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

// Signer is what the workflow checks a signer against right before accepting
// their signature: their keys and the web's vouching keys as registered now,
// and their standing in the directory.
type Signer struct {
	Keys     []statement.PublicKey `json:"keys"`
	Standing rules.Standing        `json:"standing"`
}

// LoadSigner loads a signer (see Signer).
func (a *Activities) LoadSigner(ctx context.Context, witnessID string) (Signer, error) {
	var s Signer
	var keys []store.WitnessKey
	w, err := a.Store.GetWitness(ctx, witnessID)
	switch {
	case err == nil:
		s.Standing = rules.Standing{Known: true, Active: w.Active(), Roles: w.Roles}
		for _, c := range w.Credentials {
			keys = append(keys, store.WitnessKey{WitnessID: w.ID, Credential: c})
		}
	case !errors.Is(err, store.ErrNotFound):
		return Signer{}, err
	}
	if s.Keys, err = a.publicKeys(ctx, keys, true); err != nil {
		return Signer{}, err
	}
	return s, nil
}
