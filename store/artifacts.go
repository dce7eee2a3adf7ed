package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
)

// The artifact lifecycle:
//
//	proposed ──quorum──▶ attested ──sealed──▶ released
//	    └───────────────────┴──────────────────────┴──▶ revoked (final)
//
// Every move is a custody event (artifact.state_changed) in the same transaction
// as the row change. The store refuses illegal moves with ErrIllegalTransition;
// a database trigger (migration 20261127000002) refuses them from any other writer.

// ErrIllegalTransition is returned for a lifecycle move the artifact cannot make.
var ErrIllegalTransition = errors.New("illegal artifact transition")

// artifactRank orders the states along the lifecycle.
var artifactRank = map[string]int{ArtifactProposed: 0, ArtifactAttested: 1, ArtifactReleased: 2, ArtifactRevoked: 3}

// LegalTransition reports whether an artifact may move from one state to another.
func LegalTransition(from, to string) bool {
	switch {
	case from == ArtifactProposed && to == ArtifactAttested, from == ArtifactAttested && to == ArtifactReleased:
		return true
	case to == ArtifactRevoked:
		return from == ArtifactProposed || from == ArtifactAttested || from == ArtifactReleased
	}
	return false
}

// Transition is one requested lifecycle move.
type Transition struct {
	Digest string
	To     string
	Actor  string
	Reason string
	// CeremonyID links the move to the ceremony that caused it, if any, so it
	// appears in that ceremony's custody and evidence.
	CeremonyID string
	At         time.Time
}

// TransitionArtifact moves an artifact along its lifecycle. Asking for the state
// it is already in changes nothing and is not an error (retries are safe); any
// other move that is not legal is ErrIllegalTransition, naming both states.
func (s *Store) TransitionArtifact(ctx context.Context, t Transition) (Artifact, error) {
	var out Artifact
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		out, _, err = s.transitionArtifact(ctx, tx, t)
		return err
	})
	return out, err
}

// transitionArtifact does the move within tx and reports whether it changed
// anything.
func (s *Store) transitionArtifact(ctx context.Context, tx bun.Tx, t Transition) (Artifact, bool, error) {
	if _, ok := artifactRank[t.To]; !ok {
		return Artifact{}, false, fmt.Errorf("%w: %q is not an artifact state", ErrIllegalTransition, t.To)
	}
	// The chain lock first, then the row: every writer takes them in this order
	// (RecordStatus holds the chain lock when it moves the artifact), so two
	// transactions can never wait on each other.
	if err := s.lockChain(ctx, tx); err != nil {
		return Artifact{}, false, err
	}
	a, err := s.lockArtifact(ctx, tx, t.Digest)
	if err != nil {
		return a, false, err
	}
	if a.State == t.To {
		return a, false, nil
	}
	if !LegalTransition(a.State, t.To) {
		return a, false, fmt.Errorf("%w: artifact %s is %s and cannot become %s", ErrIllegalTransition, t.Digest, a.State, t.To)
	}
	at := t.At.UTC()
	if at.IsZero() {
		at = time.Now().UTC()
	}
	from := a.State
	if _, err := tx.NewUpdate().Model((*Artifact)(nil)).Set("state = ?", t.To).Set("updated_at = ?", at).
		Where("digest = ?", t.Digest).Exec(ctx); err != nil {
		return a, false, fmt.Errorf("change artifact %s to %s: %w", t.Digest, t.To, err)
	}
	a.State, a.UpdatedAt = t.To, at
	// Each state is entered at most once (the lifecycle has no cycles), so the
	// digest and target state identify the move.
	_, _, err = s.appendCustody(ctx, tx, NewEvent{
		Type: custody.TypeArtifactState, CeremonyID: t.CeremonyID, ArtifactDigest: t.Digest, Actor: t.Actor,
		IdempotencyKey: "artifact/" + t.Digest + "/" + t.To, OccurredAt: at,
		Data: map[string]any{"name": a.Name, "uri": a.URI, "from": from, "to": t.To, "reason": t.Reason},
	})
	return a, err == nil, err
}

// lockArtifact reads an artifact, locking its row on Postgres so two moves of
// one artifact cannot interleave (SQLite transactions are already exclusive).
func (s *Store) lockArtifact(ctx context.Context, tx bun.Tx, digest string) (Artifact, error) {
	var a Artifact
	q := tx.NewSelect().Model(&a).Where("digest = ?", digest)
	if s.Dialect == Postgres {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return a, notFound(err, "artifact "+digest)
	}
	return a, nil
}

// followCeremony moves a ceremony's artifact forward when the ceremony reaches
// quorum (attested) or is sealed (released). It only ever moves forward: an
// artifact already at or past the target (released by an earlier ceremony, or
// revoked) is left alone, because a status change must always be recordable —
// the workflow retries RecordStatus until it succeeds.
func (s *Store) followCeremony(ctx context.Context, tx bun.Tx, ceremonyID string, status contract.Status, at time.Time) error {
	var target []string
	switch status {
	case contract.StatusQuorumReached:
		target = []string{ArtifactAttested}
	case contract.StatusSealed:
		target = []string{ArtifactAttested, ArtifactReleased}
	default:
		return nil
	}
	var digest string
	err := tx.NewSelect().Model((*Ceremony)(nil)).Column("artifact_digest").Where("id = ?", ceremonyID).Scan(ctx, &digest)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read artifact of ceremony %s: %w", ceremonyID, err)
	}
	for _, to := range target {
		a, err := s.lockArtifact(ctx, tx, digest)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if artifactRank[a.State] >= artifactRank[to] {
			continue
		}
		reason := "ceremony " + ceremonyID + " reached quorum"
		if to == ArtifactReleased {
			reason = "ceremony " + ceremonyID + " was sealed"
		}
		if _, _, err := s.transitionArtifact(ctx, tx, Transition{Digest: digest, To: to, Actor: "ceremony:" + ceremonyID,
			Reason: reason, CeremonyID: ceremonyID, At: at}); err != nil {
			return err
		}
	}
	return nil
}
