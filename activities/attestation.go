package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/store"
)

// ChainHead is a ceremony's custody chain head.
type ChainHead struct {
	Hash   string
	Seq    int64
	Length int64
}

// CeremonyChainHead reads the head the attestation cites.
func (a *Activities) CeremonyChainHead(ctx context.Context, ceremonyID string) (ChainHead, error) {
	head, n, err := a.Store.CeremonyChainHead(ctx, ceremonyID)
	if err != nil {
		return ChainHead{}, err
	}
	return ChainHead{Hash: head.Hash, Seq: head.Seq, Length: n}, nil
}

// Attested is the input of RecordAttested.
type Attested struct {
	CeremonyID string
	Outcome    contract.Status
	ChainHead  string
	Result     contract.AttestationResult
	At         time.Time
}

// RecordAttested puts the hand-off to the substrate on the custody chain.
func (a *Activities) RecordAttested(ctx context.Context, in Attested) error {
	_, err := a.Store.AppendCustody(ctx, store.NewEvent{
		Type: custody.TypeAttestation, CeremonyID: in.CeremonyID, Actor: "guildhall",
		IdempotencyKey: fmt.Sprintf("attestation/%s/%s/%s", in.CeremonyID, in.Outcome, in.ChainHead),
		OccurredAt:     in.At,
		Data: map[string]any{"outcome": in.Outcome, "chainHead": in.ChainHead,
			"resource": in.Result.Namespace + "/" + in.Result.Name, "created": in.Result.Created,
			"resourceVersion": in.Result.ResourceVersion},
	})
	return err
}
