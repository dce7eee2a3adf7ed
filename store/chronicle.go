package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
)

// ChronicleEvent is a projected event from the substrate's Chronicle collector.
type ChronicleEvent struct {
	bun.BaseModel `bun:"table:chronicle_events"`

	ID             string    `bun:"id,pk"`
	Type           string    `bun:"type,notnull"`
	Source         string    `bun:"source,notnull"`
	ArtifactDigest *string   `bun:"artifact_digest"`
	OccurredAt     time.Time `bun:"occurred_at,notnull"`
	ReceivedAt     time.Time `bun:"received_at,notnull"`
	Body           string    `bun:"body,notnull"` // canonical JSON as received
	BodyHash       string    `bun:"body_hash,notnull"`
	CustodySeq     int64     `bun:"custody_seq,notnull"`
}

// ChronicleInput is one validated event to project (see package chronicle).
type ChronicleInput struct {
	ID         string
	Type       string
	Source     string
	OccurredAt time.Time
	// Body is the event's canonical JSON; BodyHash its lowercase hex SHA-256.
	Body     []byte
	BodyHash string
	// Artifact is the event's subject, if any.
	Artifact *contract.Artifact
	// ArtifactState is the lifecycle effect: "" none, ArtifactProposed to start
	// governing a new artifact, ArtifactRevoked to revoke one.
	ArtifactState string
	Reason        string
}

// ChronicleResult says what projecting an event did.
type ChronicleResult struct {
	Duplicate bool  // already projected with the same content; nothing written
	Seq       int64 // the custody link recording the event
}

// ErrChronicleConflict is returned when an event id was already projected with
// different content.
var ErrChronicleConflict = errors.New("chronicle event id already used for different content")

// ErrChronicleRefused is returned when an event's effect is not possible (e.g.
// revoking an artifact Guildhall does not govern).
var ErrChronicleRefused = errors.New("chronicle event refused")

// ProjectChronicle projects one event idempotently by its id: the first time, it
// stores the event, appends a chronicle.projected custody link carrying it, and
// applies its artifact effect (each move its own custody link), all in one
// transaction; the same event again changes nothing.
func (s *Store) ProjectChronicle(ctx context.Context, in ChronicleInput) (ChronicleResult, error) {
	var res ChronicleResult
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		res = ChronicleResult{}
		// Serialise projections with custody appends, so two deliveries of one
		// event cannot both pass the duplicate check.
		if err := s.lockChain(ctx, tx); err != nil {
			return err
		}
		var have ChronicleEvent
		err := tx.NewSelect().Model(&have).Column("body_hash", "custody_seq").Where("id = ?", in.ID).Scan(ctx)
		switch {
		case err == nil:
			if have.BodyHash != in.BodyHash {
				return fmt.Errorf("%w: %q was projected at custody seq %d with other content", ErrChronicleConflict, in.ID, have.CustodySeq)
			}
			res = ChronicleResult{Duplicate: true, Seq: have.CustodySeq}
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("look up chronicle event %s: %w", in.ID, err)
		}
		at := in.OccurredAt.UTC()
		now := time.Now().UTC()
		digest := ""
		if in.Artifact != nil {
			digest = in.Artifact.Digest
		}
		row, _, err := s.appendCustody(ctx, tx, NewEvent{
			Type: custody.TypeChronicle, ArtifactDigest: digest, Actor: "chronicle:" + in.Source,
			IdempotencyKey: "chronicle/" + in.ID, OccurredAt: now,
			Data: map[string]any{"id": in.ID, "type": in.Type, "source": in.Source, "bodyHash": in.BodyHash,
				"event": json.RawMessage(in.Body)},
		})
		if err != nil {
			return err
		}
		res.Seq = row.Seq
		if err := s.chronicleEffect(ctx, tx, in, at); err != nil {
			return err
		}
		ev := ChronicleEvent{ID: in.ID, Type: in.Type, Source: in.Source, ArtifactDigest: nonEmpty(digest),
			OccurredAt: at, ReceivedAt: now, Body: string(in.Body), BodyHash: in.BodyHash, CustodySeq: row.Seq}
		if _, err := tx.NewInsert().Model(&ev).Exec(ctx); err != nil {
			return fmt.Errorf("store chronicle event %s: %w", in.ID, err)
		}
		return nil
	})
	return res, err
}

func (s *Store) chronicleEffect(ctx context.Context, tx bun.Tx, in ChronicleInput, at time.Time) error {
	if in.ArtifactState == "" {
		return nil
	}
	if in.Artifact == nil {
		return fmt.Errorf("%w: a %s event needs an artifact", ErrChronicleRefused, in.Type)
	}
	switch in.ArtifactState {
	case ArtifactProposed:
		return s.ensureArtifact(ctx, tx, *in.Artifact, at, "")
	case ArtifactRevoked:
		_, _, err := s.transitionArtifact(ctx, tx, Transition{Digest: in.Artifact.Digest, To: ArtifactRevoked,
			Actor: "chronicle:" + in.Source, Reason: chronicleReason(in), At: at})
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: artifact %s is not governed here, so it cannot be revoked", ErrChronicleRefused, in.Artifact.Digest)
		}
		return err
	default:
		return fmt.Errorf("%w: chronicle events cannot move an artifact to %s", ErrChronicleRefused, in.ArtifactState)
	}
}

func chronicleReason(in ChronicleInput) string {
	r := "chronicle event " + in.ID
	if in.Reason != "" {
		r += ": " + in.Reason
	}
	return r
}

// ChronicleFilter narrows ListChronicle.
type ChronicleFilter struct {
	Type           string
	ArtifactDigest string
	// BeforeSeq pages backwards by custody seq (0: newest first from the top).
	BeforeSeq int64
	Limit     int
}

// ListChronicle returns projected events, newest first.
func (s *Store) ListChronicle(ctx context.Context, f ChronicleFilter) ([]ChronicleEvent, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	var out []ChronicleEvent
	q := s.DB.NewSelect().Model(&out).Order("custody_seq DESC").Limit(int64(f.Limit))
	if f.Type != "" {
		q = q.Where("type = ?", f.Type)
	}
	if f.ArtifactDigest != "" {
		q = q.Where("artifact_digest = ?", f.ArtifactDigest)
	}
	if f.BeforeSeq > 0 {
		q = q.Where("custody_seq < ?", f.BeforeSeq)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("list chronicle events: %w", err)
	}
	return out, nil
}
