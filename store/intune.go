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

// The Graph bridge's deployment states.
const (
	// IntunePending: a carry-out was asked for and has not succeeded yet (it is
	// running, or waiting to retry; LastError says why the last try failed).
	IntunePending = "pending"
	// IntuneApplied: Intune matched the decision when it was last carried out.
	IntuneApplied = "applied"
	// IntuneFailed: Graph refused in a way only a person can fix (LastError);
	// an admin re-applies once it is fixed.
	IntuneFailed = "failed"
)

// IntuneDecisionFor is what an artifact's Intune deployments carry out while it
// is in artifactState: released, or revoked once the artifact was (revocation
// is final, and a revoked release is never deployed).
func IntuneDecisionFor(artifactState string) contract.IntuneDecision {
	if artifactState == ArtifactRevoked {
		return contract.IntuneRevoked
	}
	return contract.IntuneReleased
}

// IntuneDeployment is one sealed ceremony's Intune target and how far carrying
// out its current decision got. The custody chain has every step.
type IntuneDeployment struct {
	bun.BaseModel `bun:"table:intune_deployments"`

	CeremonyID     string `bun:"ceremony_id,pk"`
	ArtifactDigest string `bun:"artifact_digest,notnull"`
	AppID          string `bun:"app_id,notnull"`
	Target         string `bun:"target,notnull"` // JSON of contract.IntuneTarget, as sealed
	// Decision is what is carried out now: released, or revoked once the
	// artifact was.
	Decision    string    `bun:"decision,notnull"`
	State       string    `bun:"state,notnull"`
	Cause       string    `bun:"cause,notnull"`
	RequestedBy string    `bun:"requested_by,notnull"`
	RequestedAt time.Time `bun:"requested_at,notnull"`
	// Attempts counts the failed tries since the last request.
	Attempts  int        `bun:"attempts,notnull"`
	LastError string     `bun:"last_error,notnull"`
	AppliedAt *time.Time `bun:"applied_at"`
	// Managed is JSON: the assignments Guildhall made, as Intune last reported
	// them (with the ids Intune gave them).
	Managed string `bun:"managed,notnull"`
	// CheckedAt, Drift (JSON list of differences) and CheckError are the last
	// drift check's findings.
	CheckedAt  *time.Time `bun:"checked_at"`
	Drift      string     `bun:"drift,notnull"`
	CheckError string     `bun:"check_error,notnull"`
	// LeaseOwner and LeaseUntil serialise carry-outs of one deployment: a
	// revocation never runs while a release's Graph calls are in flight.
	LeaseOwner string     `bun:"lease_owner,notnull"`
	LeaseUntil *time.Time `bun:"lease_until"`
	UpdatedAt  time.Time  `bun:"updated_at,notnull"`
}

// IntuneTarget decodes the sealed target.
func (d IntuneDeployment) IntuneTarget() (contract.IntuneTarget, error) {
	var t contract.IntuneTarget
	if err := json.Unmarshal([]byte(d.Target), &t); err != nil {
		return t, fmt.Errorf("intune target of %s: %w", d.CeremonyID, err)
	}
	return t, nil
}

// Drifted reports whether the last drift check found Intune differing from the
// decision (or could not check).
func (d IntuneDeployment) Drifted() bool {
	return (d.Drift != "" && d.Drift != "[]" && d.Drift != "null") || d.CheckError != ""
}

// ErrIntuneBusy means another carry-out of the deployment holds its lease.
var ErrIntuneBusy = errors.New("another carry-out of this deployment is running")

// IntuneRequest asks for a deployment's decision to be carried out.
type IntuneRequest struct {
	CeremonyID string
	// Digest and Target are the sealed ceremony's, when it asks; a request
	// without Target carries out the deployment already recorded.
	Digest   string
	Target   *contract.IntuneTarget
	Decision contract.IntuneDecision
	Cause    string
	By       string
	// Key makes the request idempotent (the workflow run asking).
	Key string
	At  time.Time
}

// RequestIntune records a request: the deployment row is created from the
// target (or found), its decision set and its state pending, and an
// intune.requested custody event names who asked and why. Without a target and
// a row it is ErrNotFound. A repeated key changes nothing.
func (s *Store) RequestIntune(ctx context.Context, r IntuneRequest) (IntuneDeployment, error) {
	var d IntuneDeployment
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := s.lockChain(ctx, tx); err != nil {
			return err
		}
		err := tx.NewSelect().Model(&d).Where("ceremony_id = ?", r.CeremonyID).Scan(ctx)
		exists := err == nil
		switch {
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("read intune deployment %s: %w", r.CeremonyID, err)
		case !exists && r.Target == nil:
			return fmt.Errorf("%w: no Intune deployment for ceremony %s (only a sealed release with an Intune target has one)", ErrNotFound, r.CeremonyID)
		}
		at := r.At.UTC()
		if !exists {
			target, err := json.Marshal(r.Target)
			if err != nil {
				return fmt.Errorf("encode intune target: %w", err)
			}
			d = IntuneDeployment{CeremonyID: r.CeremonyID, ArtifactDigest: r.Digest, AppID: r.Target.AppID, Target: string(target),
				Managed: "[]", Drift: "[]"}
		}
		// The event first: a repeated key writes none, and then the row is
		// left as it is (tries made since the request keep their count).
		_, written, err := s.appendCustody(ctx, tx, NewEvent{
			Type: custody.TypeIntuneRequested, CeremonyID: r.CeremonyID, ArtifactDigest: d.ArtifactDigest, Actor: r.By,
			IdempotencyKey: r.Key, OccurredAt: at,
			Data: map[string]any{"decision": r.Decision, "cause": r.Cause, "appId": d.AppID, "target": json.RawMessage(d.Target)},
		})
		if err != nil || !written {
			return err
		}
		d.Decision, d.State, d.Cause, d.RequestedBy, d.RequestedAt = string(r.Decision), IntunePending, r.Cause, r.By, at
		d.Attempts, d.LastError, d.UpdatedAt = 0, "", at
		if exists {
			_, err = tx.NewUpdate().Model(&d).
				Column("decision", "state", "cause", "requested_by", "requested_at", "attempts", "last_error", "updated_at").
				WherePK().Exec(ctx)
		} else {
			_, err = tx.NewInsert().Model(&d).Exec(ctx)
		}
		if err != nil {
			return fmt.Errorf("record intune request for %s: %w", r.CeremonyID, err)
		}
		return nil
	})
	if err != nil {
		return d, err
	}
	return s.GetIntuneDeployment(ctx, r.CeremonyID)
}

// GetIntuneDeployment reads one deployment.
func (s *Store) GetIntuneDeployment(ctx context.Context, ceremonyID string) (IntuneDeployment, error) {
	var d IntuneDeployment
	if err := s.DB.NewSelect().Model(&d).Where("ceremony_id = ?", ceremonyID).Scan(ctx); err != nil {
		return d, notFound(err, "intune deployment "+ceremonyID)
	}
	return d, nil
}

// IntuneDeploymentsOf lists an artifact's deployments, oldest request first.
func (s *Store) IntuneDeploymentsOf(ctx context.Context, digest string) ([]IntuneDeployment, error) {
	var ds []IntuneDeployment
	if err := s.DB.NewSelect().Model(&ds).Where("artifact_digest = ?", digest).Order("requested_at", "ceremony_id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list intune deployments of %s: %w", digest, err)
	}
	return ds, nil
}

// IntuneDeploymentRef is a deployment as the drift check sees it.
type IntuneDeploymentRef struct {
	CeremonyID    string
	Digest        string
	Decision      contract.IntuneDecision
	State         string
	ArtifactState string
}

// ListIntuneDeployments lists every deployment with its artifact's state, in
// ceremony id order.
func (s *Store) ListIntuneDeployments(ctx context.Context) ([]IntuneDeploymentRef, error) {
	var rows []struct {
		CeremonyID     string `bun:"ceremony_id"`
		ArtifactDigest string `bun:"artifact_digest"`
		Decision       string `bun:"decision"`
		State          string `bun:"state"`
		ArtifactState  string `bun:"artifact_state"`
	}
	err := s.DB.NewSelect().TableExpr("intune_deployments AS d").
		ColumnExpr("d.ceremony_id, d.artifact_digest, d.decision, d.state").
		ColumnExpr("COALESCE(a.state, '') AS artifact_state").
		Join("LEFT JOIN artifacts AS a ON a.digest = d.artifact_digest").
		OrderExpr("d.ceremony_id").Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("list intune deployments: %w", err)
	}
	out := make([]IntuneDeploymentRef, len(rows))
	for i, r := range rows {
		out[i] = IntuneDeploymentRef{CeremonyID: r.CeremonyID, Digest: r.ArtifactDigest, Decision: contract.IntuneDecision(r.Decision),
			State: r.State, ArtifactState: r.ArtifactState}
	}
	return out, nil
}

// IntuneAttention lists the deployments an operator should look at: failed,
// drifted, or pending after several failed tries; newest change first.
func (s *Store) IntuneAttention(ctx context.Context, minAttempts, limit int) ([]IntuneDeployment, error) {
	var ds []IntuneDeployment
	err := s.DB.NewSelect().Model(&ds).
		WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("state = ?", IntuneFailed).
				WhereOr("state = ? AND attempts >= ?", IntunePending, minAttempts).
				WhereOr("state = ? AND (drift NOT IN ('[]', 'null', '') OR check_error <> '')", IntuneApplied)
		}).
		Order("updated_at DESC").Limit(int64(limit)).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list intune deployments needing attention: %w", err)
	}
	return ds, nil
}

// ClaimIntune takes a deployment's lease for owner until until, or returns
// ErrIntuneBusy while someone else holds an unexpired one. It returns the row
// as it stands, so the caller sees the decision in force now.
func (s *Store) ClaimIntune(ctx context.Context, ceremonyID, owner string, now, until time.Time) (IntuneDeployment, error) {
	res, err := s.DB.NewUpdate().Model((*IntuneDeployment)(nil)).
		Set("lease_owner = ?", owner).Set("lease_until = ?", until.UTC()).
		Where("ceremony_id = ?", ceremonyID).
		Where("(lease_owner = '' OR lease_owner = ? OR lease_until IS NULL OR lease_until < ?)", owner, now.UTC()).
		Exec(ctx)
	if err != nil {
		return IntuneDeployment{}, fmt.Errorf("claim intune deployment %s: %w", ceremonyID, err)
	}
	d, err := s.GetIntuneDeployment(ctx, ceremonyID)
	if err != nil {
		return d, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return d, fmt.Errorf("%w (%s, until %s)", ErrIntuneBusy, d.LeaseOwner, fmtTimePtr(d.LeaseUntil))
	}
	return d, nil
}

// ReleaseIntune gives a lease back (a no-op when owner no longer holds it).
func (s *Store) ReleaseIntune(ctx context.Context, ceremonyID, owner string) error {
	_, err := s.DB.NewUpdate().Model((*IntuneDeployment)(nil)).
		Set("lease_owner = ''").Set("lease_until = NULL").
		Where("ceremony_id = ? AND lease_owner = ?", ceremonyID, owner).Exec(ctx)
	if err != nil {
		return fmt.Errorf("release intune deployment %s: %w", ceremonyID, err)
	}
	return nil
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// IntuneResult is the outcome of one try at carrying a decision out.
type IntuneResult struct {
	CeremonyID string
	Decision   contract.IntuneDecision
	// Type is the custody event: custody.TypeIntuneApplied, TypeIntuneFailed
	// or TypeIntuneSkipped.
	Type string
	// State is the deployment's state after it (IntuneApplied, IntunePending
	// to retry, IntuneFailed); "" leaves it.
	State string
	Error string
	// Managed is the JSON of Guildhall's assignments as Intune reported them
	// (nil leaves the recorded ones).
	Managed json.RawMessage
	// Data is the custody event's data: the Graph calls and what they changed.
	Data any
	Key  string
	At   time.Time
}

// RecordIntune records one try: the custody event and the deployment row, in
// one transaction. A repeated key changes nothing.
func (s *Store) RecordIntune(ctx context.Context, r IntuneResult) error {
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := s.lockChain(ctx, tx); err != nil {
			return err
		}
		var d IntuneDeployment
		if err := tx.NewSelect().Model(&d).Where("ceremony_id = ?", r.CeremonyID).Scan(ctx); err != nil {
			return notFound(err, "intune deployment "+r.CeremonyID)
		}
		_, written, err := s.appendCustody(ctx, tx, NewEvent{
			Type: r.Type, CeremonyID: r.CeremonyID, ArtifactDigest: d.ArtifactDigest, Actor: "guildhall",
			IdempotencyKey: r.Key, OccurredAt: r.At, Data: r.Data,
		})
		if err != nil || !written || r.State == "" {
			return err
		}
		at := r.At.UTC()
		q := tx.NewUpdate().Model((*IntuneDeployment)(nil)).Set("state = ?", r.State).Set("updated_at = ?", at).
			Where("ceremony_id = ?", r.CeremonyID)
		switch r.State {
		case IntuneApplied:
			q = q.Set("attempts = 0").Set("last_error = ''").Set("applied_at = ?", at).
				Set("drift = '[]'").Set("check_error = ''").Set("checked_at = ?", at)
		default:
			q = q.Set("attempts = attempts + 1").Set("last_error = ?", r.Error)
		}
		if r.Managed != nil {
			q = q.Set("managed = ?", string(r.Managed))
		}
		if _, err := q.Exec(ctx); err != nil {
			return fmt.Errorf("update intune deployment %s: %w", r.CeremonyID, err)
		}
		return nil
	})
}

// NoteIntuneError keeps why a try could not even start (no Graph bridge on the
// worker, say) on the row, without a custody event: nothing was done.
func (s *Store) NoteIntuneError(ctx context.Context, ceremonyID, msg string, at time.Time) error {
	_, err := s.DB.NewUpdate().Model((*IntuneDeployment)(nil)).
		Set("last_error = ?", msg).Set("attempts = attempts + 1").Set("updated_at = ?", at.UTC()).
		Where("ceremony_id = ?", ceremonyID).Exec(ctx)
	if err != nil {
		return fmt.Errorf("note intune error for %s: %w", ceremonyID, err)
	}
	return nil
}

// IntuneCheck is one drift check's finding for a deployment.
type IntuneCheck struct {
	CeremonyID string
	// Drift is the JSON list of differences, in a stable order ("[]": none).
	Drift json.RawMessage
	// Error says why Intune could not be checked ("" if it was).
	Error string
	// Data is the custody event's data, written only when the finding differs
	// from the last one.
	Data any
	Key  string
	At   time.Time
}

// RecordIntuneCheck stores a drift check's finding and, when it differs from the
// last one (drift found, changed or gone; an error appearing or clearing),
// appends an intune.drift custody event. It reports whether it did.
func (s *Store) RecordIntuneCheck(ctx context.Context, c IntuneCheck) (bool, error) {
	changed := false
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := s.lockChain(ctx, tx); err != nil {
			return err
		}
		var d IntuneDeployment
		if err := tx.NewSelect().Model(&d).Where("ceremony_id = ?", c.CeremonyID).Scan(ctx); err != nil {
			return notFound(err, "intune deployment "+c.CeremonyID)
		}
		drift := string(c.Drift)
		if drift == "" || drift == "null" {
			drift = "[]"
		}
		changed = drift != d.Drift || c.Error != d.CheckError
		if changed {
			if _, _, err := s.appendCustody(ctx, tx, NewEvent{
				Type: custody.TypeIntuneDrift, CeremonyID: c.CeremonyID, ArtifactDigest: d.ArtifactDigest, Actor: "guildhall",
				IdempotencyKey: c.Key, OccurredAt: c.At, Data: c.Data,
			}); err != nil {
				return err
			}
		}
		_, err := tx.NewUpdate().Model((*IntuneDeployment)(nil)).
			Set("drift = ?", drift).Set("check_error = ?", c.Error).Set("checked_at = ?", c.At.UTC()).
			Where("ceremony_id = ?", c.CeremonyID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("record drift check of %s: %w", c.CeremonyID, err)
		}
		return nil
	})
	return changed, err
}
