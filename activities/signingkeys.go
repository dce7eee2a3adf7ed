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
	out := make([]statement.PublicKey, 0, len(keys))
	if slices.Contains(ids, statement.WebSigner) {
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
	keys, err := a.LoadSigningKeys(ctx, []string{witnessID, statement.WebSigner})
	if err != nil {
		return Signer{}, err
	}
	s := Signer{Keys: keys}
	w, err := a.Store.GetWitness(ctx, witnessID)
	switch {
	case err == nil:
		s.Standing = rules.Standing{Known: true, Active: w.Active(), Roles: w.Roles}
	case !errors.Is(err, store.ErrNotFound):
		return Signer{}, err
	}
	return s, nil
}
