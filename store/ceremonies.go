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

// Opened is what RecordOpened writes.
type Opened struct {
	Spec       contract.Spec
	WorkflowID string
	RunID      string
	OpenedAt   time.Time
	Pending    []string
}

// RecordOpened writes the ceremony, its artifact (proposed, if new) and the
// ceremony.opened custody event in one transaction. Retrying it writes nothing new.
func (s *Store) RecordOpened(ctx context.Context, o Opened) error {
	spec, err := json.Marshal(o.Spec)
	if err != nil {
		return fmt.Errorf("encode spec: %w", err)
	}
	at := o.OpenedAt.UTC()
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := s.ensureArtifact(ctx, tx, o.Spec.Artifact, at, o.Spec.ID); err != nil {
			return err
		}
		c := Ceremony{
			ID: o.Spec.ID, WorkflowID: o.WorkflowID, RunID: o.RunID, Kind: o.Spec.Kind,
			Title: rules.Title(o.Spec), ArtifactDigest: o.Spec.Artifact.Digest, Initiator: o.Spec.Initiator,
			Status: string(contract.StatusCollecting), Spec: string(spec), WitnessIDs: rules.WitnessIDs(o.Spec),
			PendingIDs: nonNil(o.Pending), Threshold: o.Spec.Quorum.Threshold, Deadline: o.Spec.Deadline.UTC(),
			OpenedAt: at, UpdatedAt: at,
		}
		if _, err := tx.NewInsert().Model(&c).On("CONFLICT (id) DO NOTHING").Exec(ctx); err != nil {
			return fmt.Errorf("insert ceremony %s: %w", c.ID, err)
		}
		_, _, err := s.appendCustody(ctx, tx, NewEvent{
			Type: custody.TypeCeremonyOpened, CeremonyID: o.Spec.ID, ArtifactDigest: o.Spec.Artifact.Digest,
			Actor: o.Spec.Initiator, IdempotencyKey: "opened/" + o.Spec.ID, OccurredAt: at,
			Data: map[string]any{"spec": o.Spec, "workflowId": o.WorkflowID},
		})
		return err
	})
}

func (s *Store) ensureArtifact(ctx context.Context, tx bun.Tx, a contract.Artifact, at time.Time, ceremonyID string) error {
	row := Artifact{Digest: a.Digest, Name: a.Name, URI: a.URI, State: ArtifactProposed, CreatedAt: at, UpdatedAt: at}
	res, err := tx.NewInsert().Model(&row).On("CONFLICT (digest) DO NOTHING").Exec(ctx)
	if err != nil {
		return fmt.Errorf("insert artifact %s: %w", a.Digest, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	_, _, err = s.appendCustody(ctx, tx, NewEvent{
		Type: custody.TypeArtifactState, CeremonyID: ceremonyID, ArtifactDigest: a.Digest,
		IdempotencyKey: "artifact/" + a.Digest + "/" + ArtifactProposed, OccurredAt: at,
		Data: map[string]any{"name": a.Name, "uri": a.URI, "from": "", "to": ArtifactProposed},
	})
	return err
}

// Tally is a ceremony's counts after a change: approvals, rejections and the
// members who have not signed.
type Tally struct {
	Approvals  int
	Rejections int
	Pending    []string
}

// Contract is the signature as the workflow's state holds it, for pages that
// show the Ops DB's copy when the workflow cannot be asked (its vouch stays on
// the custody chain).
func (r Signature) Contract() contract.Signature {
	sig := contract.Signature{WitnessID: r.WitnessID, Roles: r.Roles, Decision: contract.Decision(r.Decision), Comment: r.Comment,
		SignedAt: r.SignedAt, IdempotencyKey: r.IdempotencyKey, Statement: r.Statement, Via: r.Via,
		Assurance: contract.Assurance(r.Assurance), AssuranceMethod: r.AssuranceMethod, HeldRoles: r.HeldRoles,
		Epoch: r.Epoch, VoidedAt: r.VoidedAt}
	if r.Proof != "" {
		var p contract.Proof
		if json.Unmarshal([]byte(r.Proof), &p) == nil {
			sig.Proof = &p
		}
	}
	return sig
}

// RecordSignature stores an accepted signature (in its epoch, sig.Epoch), the
// ceremony's new counts and the signature.accepted custody event in one
// transaction. Retrying it writes nothing new: signatures are unique per
// (ceremony, epoch, witness).
func (s *Store) RecordSignature(ctx context.Context, ceremonyID string, sig contract.Signature, t Tally) error {
	proof := ""
	if sig.Proof != nil {
		b, err := json.Marshal(sig.Proof)
		if err != nil {
			return fmt.Errorf("encode proof: %w", err)
		}
		proof = string(b)
	}
	row := Signature{
		CeremonyID: ceremonyID, Epoch: sig.Epoch, WitnessID: sig.WitnessID, Decision: string(sig.Decision),
		Comment: sig.Comment, Roles: nonNil(sig.Roles), Statement: sig.Statement, Proof: proof, Via: sig.Via,
		Assurance: string(sig.Assurance), AssuranceMethod: sig.AssuranceMethod, HeldRoles: nonNil(sig.HeldRoles),
		IdempotencyKey: sig.IdempotencyKey, SignedAt: sig.SignedAt.UTC(),
	}
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		// The key the workflow verified the proof with, copied as registered now,
		// so the signature stays checkable after the key is removed.
		if sig.Proof != nil {
			row.KeyID = sig.Proof.KeyID
			if c, ok, err := s.credential(ctx, tx, sig.WitnessID, sig.Proof.Type, sig.Proof.KeyID); err != nil {
				return err
			} else if ok {
				row.PublicKey = c.PublicKey
			}
		}
		if _, err := tx.NewInsert().Model(&row).On("CONFLICT (ceremony_id, epoch, witness_id) DO NOTHING").Exec(ctx); err != nil {
			return fmt.Errorf("insert signature of %s on %s: %w", sig.WitnessID, ceremonyID, err)
		}
		if _, err := tx.NewUpdate().Model((*Ceremony)(nil)).
			Set("approvals = ?", t.Approvals).Set("rejections = ?", t.Rejections).
			Set("pending_ids = ?", jsonText(nonNil(t.Pending))).Set("updated_at = ?", sig.SignedAt.UTC()).
			Where("id = ?", ceremonyID).Exec(ctx); err != nil {
			return fmt.Errorf("update counts of %s: %w", ceremonyID, err)
		}
		data := map[string]any{"epoch": sig.Epoch, "decision": sig.Decision, "comment": sig.Comment,
			"statement": sig.Statement, "proof": sig.Proof, "via": sig.Via, "messageKey": sig.IdempotencyKey,
			"keyId": row.KeyID, "publicKey": row.PublicKey, "assurance": assuranceWords(sig), "heldRoles": row.HeldRoles}
		if err := addVouch(ctx, tx, data, sig.Vouch); err != nil {
			return err
		}
		_, _, err := s.appendCustody(ctx, tx, NewEvent{
			Type: custody.TypeSignatureAccepted, CeremonyID: ceremonyID, Actor: sig.WitnessID,
			IdempotencyKey: fmt.Sprintf("signature/%s/%d/%s", ceremonyID, sig.Epoch, sig.WitnessID),
			OccurredAt:     sig.SignedAt, Data: data,
		})
		return err
	})
}

// addVouch puts a vouch and the web key it verifies with, copied now, in a
// custody event's data, so evidence bundles can check it offline.
func addVouch(ctx context.Context, tx bun.Tx, data map[string]any, v *contract.Vouch) error {
	if v == nil {
		return nil
	}
	var wk []WebKey
	if err := tx.NewSelect().Model(&wk).Where("key_id = ?", v.KeyID).Scan(ctx); err != nil {
		return fmt.Errorf("read web key %s: %w", v.KeyID, err)
	}
	data["vouch"] = v
	if len(wk) == 1 {
		data["vouchPublicKey"] = wk[0].PublicKey
	}
	return nil
}

// StatusChange is a ceremony's move to a status, as RecordStatus writes it.
type StatusChange struct {
	Status contract.Status
	Reason string
	At     time.Time
	Actor  string
	// Seq distinguishes repeated visits to the same status (e.g. after an
	// amendment reopens collecting); the workflow supplies it.
	Seq int
	// A cancel records how its sender was authenticated: Assurance (session,
	// token or operator) and AssuranceMethod, and for session or token the
	// web's Vouch, with MessageKey, the cancel's idempotency key, which the
	// vouch covers. Other status changes, and cancels from before assurance
	// was recorded, leave them empty.
	Assurance       contract.Assurance
	AssuranceMethod string
	Vouch           *contract.Vouch
	MessageKey      string
}

// RecordStatus writes a ceremony's new status and its custody event.
func (s *Store) RecordStatus(ctx context.Context, ceremonyID string, c StatusChange) error {
	at := c.At.UTC()
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		q := tx.NewUpdate().Model((*Ceremony)(nil)).Set("status = ?", string(c.Status)).
			Set("reason = ?", c.Reason).Set("updated_at = ?", at).Where("id = ?", ceremonyID)
		if c.Status.Final() {
			q = q.Set("closed_at = ?", at)
		}
		if _, err := q.Exec(ctx); err != nil {
			return fmt.Errorf("update status of %s: %w", ceremonyID, err)
		}
		data := map[string]any{"status": c.Status, "reason": c.Reason}
		if c.Assurance != "" {
			data["assurance"] = assuranceWords(contract.Signature{Assurance: c.Assurance, AssuranceMethod: c.AssuranceMethod})
			data["messageKey"] = c.MessageKey
			if err := addVouch(ctx, tx, data, c.Vouch); err != nil {
				return err
			}
		}
		if _, _, err := s.appendCustody(ctx, tx, NewEvent{
			Type: custody.TypeStatusChanged, CeremonyID: ceremonyID, Actor: c.Actor,
			IdempotencyKey: fmt.Sprintf("status/%s/%d/%s", ceremonyID, c.Seq, c.Status),
			OccurredAt:     at, Data: data,
		}); err != nil {
			return err
		}
		// Quorum attests the ceremony's artifact and sealing releases it (see
		// artifacts.go); each move is its own custody event after this one.
		return s.followCeremony(ctx, tx, ceremonyID, c.Status, at)
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// assuranceWords is the assurance a signature.accepted (or a cancel's
// status_changed) event records: the level and its means ("session (oidc)"),
// "operator" for none, or "not recorded" for signatures from before assurance
// was.
func assuranceWords(sig contract.Signature) string {
	switch {
	case sig.Assurance == "":
		return "not recorded"
	case sig.AssuranceMethod == "":
		return string(sig.Assurance)
	}
	return string(sig.Assurance) + " (" + sig.AssuranceMethod + ")"
}
