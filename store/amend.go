package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/rules"
)

// VoidedSignature names a signature row an amendment voids.
type VoidedSignature struct {
	WitnessID string `json:"witnessId"`
	Epoch     int    `json:"epoch"`
}

// Amendment is an accepted spec change, as RecordAmended writes it: the new
// spec and generation, what changed in words, what it voided, and the
// ceremony's status and counts after it.
type Amendment struct {
	Spec       contract.Spec
	Generation int64
	MessageKey string // the spec-changed message's idempotency key
	At         time.Time
	Changes    []string
	Voiding
	Status contract.Status
	Tally
}

// Voiding is what an amendment voided: signatures of earlier epochs, why, and
// the epoch that starts.
type Voiding struct {
	Epoch      int
	Voided     []VoidedSignature
	VoidReason string
}

// RecordAmended applies an accepted amendment to the Ops DB in one transaction:
// the ceremony row follows the new spec (its artifact is created if new), voided
// signature rows get voided_at, and the chain gets ceremony.amended plus, when
// anything was voided, signatures.voided. Retrying it writes nothing new.
func (s *Store) RecordAmended(ctx context.Context, in Amendment) error {
	spec, err := json.Marshal(in.Spec)
	if err != nil {
		return fmt.Errorf("encode spec: %w", err)
	}
	at := in.At.UTC()
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := s.ensureArtifact(ctx, tx, in.Spec.Artifact, at, in.Spec.ID); err != nil {
			return err
		}
		if _, err := tx.NewUpdate().Model((*Ceremony)(nil)).
			Set("spec = ?", string(spec)).Set("title = ?", rules.Title(in.Spec)).Set("kind = ?", in.Spec.Kind).
			Set("artifact_digest = ?", in.Spec.Artifact.Digest).Set("initiator = ?", in.Spec.Initiator).
			Set("witness_ids = ?", jsonText(rules.WitnessIDs(in.Spec))).Set("pending_ids = ?", jsonText(nonNil(in.Pending))).
			Set("threshold = ?", in.Spec.Quorum.Threshold).Set("approvals = ?", in.Approvals).
			Set("rejections = ?", in.Rejections).Set("epoch = ?", in.Epoch).
			Set("deadline = ?", in.Spec.Deadline.UTC()).Set("status = ?", string(in.Status)).
			Set("updated_at = ?", at).
			Where("id = ?", in.Spec.ID).Exec(ctx); err != nil {
			return fmt.Errorf("amend ceremony %s: %w", in.Spec.ID, err)
		}
		for _, v := range in.Voided {
			if _, err := tx.NewUpdate().Model((*Signature)(nil)).Set("voided_at = ?", at).
				Where("ceremony_id = ? AND epoch = ? AND witness_id = ? AND voided_at IS NULL", in.Spec.ID, v.Epoch, v.WitnessID).
				Exec(ctx); err != nil {
				return fmt.Errorf("void signature of %s on %s: %w", v.WitnessID, in.Spec.ID, err)
			}
		}
		if _, _, err := s.appendCustody(ctx, tx, NewEvent{
			Type: custody.TypeCeremonyAmended, CeremonyID: in.Spec.ID, ArtifactDigest: in.Spec.Artifact.Digest,
			IdempotencyKey: fmt.Sprintf("amended/%s/%d", in.Spec.ID, in.Generation), OccurredAt: at,
			Data: map[string]any{"generation": in.Generation, "changes": nonNil(in.Changes), "spec": in.Spec,
				"epoch": in.Epoch, "messageKey": in.MessageKey},
		}); err != nil {
			return err
		}
		if len(in.Voided) == 0 {
			return nil
		}
		_, _, err := s.appendCustody(ctx, tx, NewEvent{
			Type: custody.TypeSignaturesVoided, CeremonyID: in.Spec.ID,
			IdempotencyKey: fmt.Sprintf("voided/%s/%d", in.Spec.ID, in.Generation), OccurredAt: at,
			Data: map[string]any{"generation": in.Generation, "signatures": in.Voided, "reason": in.VoidReason, "epoch": in.Epoch},
		})
		return err
	})
}

// Attention is a ceremony flagged for an operator, as RecordAttention writes it.
type Attention struct {
	Reason string // contract.Attention…
	Detail string
	At     time.Time
	Seq    int
}

// RecordAttention puts "this ceremony needs an operator" on the custody chain.
func (s *Store) RecordAttention(ctx context.Context, ceremonyID string, in Attention) error {
	_, err := s.AppendCustody(ctx, NewEvent{
		Type: custody.TypeAttention, CeremonyID: ceremonyID, Actor: "guildhall",
		IdempotencyKey: fmt.Sprintf("attention/%s/%d/%s", ceremonyID, in.Seq, in.Reason), OccurredAt: in.At,
		Data: map[string]any{"reason": in.Reason, "detail": in.Detail},
	})
	return err
}
