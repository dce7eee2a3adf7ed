package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Web sessions and API tokens: one row each in web_sessions, checked on every
// request, so ending one (logout, the person themselves, an admin, a
// deactivation) takes effect at once on every web replica. The row's id is the
// SHA-256 of the secret id the cookie or token carries, never the secret.
//
// They are access bookkeeping, not custody events: a session or token does not
// change what a signature proves (the web's vouch does, and it is kept with the
// signature), and a row alone lets nobody in without the web's session secret.

// Kinds of web session.
const (
	KindSession = "session" // a browser login
	KindToken   = "token"   // an API bearer token
)

// Why a session or token ended.
const (
	EndLogout      = "logout"      // its holder logged out
	EndByOwner     = "ended"       // its holder ended it on their account page
	EndByAdmin     = "admin"       // an admin ended it
	EndDeactivated = "deactivated" // its holder was deactivated in the directory
)

// WebSession is a login session or an API token.
type WebSession struct {
	bun.BaseModel `bun:"table:web_sessions"`

	ID         string     `bun:"id,pk"`
	Kind       string     `bun:"kind,notnull"`
	WitnessID  string     `bun:"witness_id,notnull"`
	Via        string     `bun:"via,notnull"`   // "oidc", "dev" or "token"
	Label      string     `bun:"label,notnull"` // a token's name
	UserAgent  string     `bun:"user_agent,notnull"`
	ClientIP   string     `bun:"client_ip,notnull"`
	CreatedAt  time.Time  `bun:"created_at,notnull"`
	ExpiresAt  time.Time  `bun:"expires_at,notnull"`
	LastUsedAt time.Time  `bun:"last_used_at,notnull"`
	EndedAt    *time.Time `bun:"ended_at"`
	EndedBy    string     `bun:"ended_by,notnull"`
	EndReason  string     `bun:"end_reason,notnull"`
}

// Live reports whether the session or token still lets its holder in at now.
func (w WebSession) Live(now time.Time) bool { return w.EndedAt == nil && now.Before(w.ExpiresAt) }

// CreateWebSessions records new sessions or tokens.
func (s *Store) CreateWebSessions(ctx context.Context, ws ...WebSession) error {
	if len(ws) == 0 {
		return nil
	}
	for i := range ws {
		w := &ws[i]
		if w.ID == "" || w.WitnessID == "" || (w.Kind != KindSession && w.Kind != KindToken) {
			return fmt.Errorf("a web session needs an id, a witness and a kind (%s or %s)", KindSession, KindToken)
		}
		w.CreatedAt, w.ExpiresAt = w.CreatedAt.UTC(), w.ExpiresAt.UTC()
		if w.LastUsedAt.IsZero() {
			w.LastUsedAt = w.CreatedAt
		}
		w.LastUsedAt = w.LastUsedAt.UTC()
	}
	for start := 0; start < len(ws); start += 500 {
		batch := ws[start:min(start+500, len(ws))]
		if _, err := s.DB.NewInsert().Model(&batch).Exec(ctx); err != nil {
			return fmt.Errorf("record %d web sessions: %w", len(batch), err)
		}
	}
	return nil
}

// GetWebSession reads one session or token by id (ErrNotFound if unknown).
func (s *Store) GetWebSession(ctx context.Context, id string) (WebSession, error) {
	var w WebSession
	if err := s.DB.NewSelect().Model(&w).Where("id = ?", id).Scan(ctx); err != nil {
		return w, notFound(err, "web session")
	}
	return w, nil
}

// TouchWebSession records a use at `at`, unless one at or after it is already
// recorded (replicas race harmlessly).
func (s *Store) TouchWebSession(ctx context.Context, id string, at time.Time) error {
	if _, err := s.DB.NewUpdate().Model((*WebSession)(nil)).Set("last_used_at = ?", at.UTC()).
		Where("id = ?", id).Where("last_used_at < ?", at.UTC()).Exec(ctx); err != nil {
		return fmt.Errorf("record the use of a web session: %w", err)
	}
	return nil
}

// LiveWebSessions lists a person's sessions and tokens that still let them in
// at now, most recently used first.
func (s *Store) LiveWebSessions(ctx context.Context, witnessID string, now time.Time) ([]WebSession, error) {
	var out []WebSession
	if err := s.DB.NewSelect().Model(&out).Where("witness_id = ?", witnessID).Where("ended_at IS NULL").
		Where("expires_at > ?", now.UTC()).Order("last_used_at DESC", "id ASC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list the sessions of %s: %w", witnessID, err)
	}
	return out, nil
}

// EndWebSessions ends a person's live sessions and tokens: the one with id
// when id is given, else all of kind ("" for both), keeping `except` if set.
// It returns how many it ended; none is not an error.
func (s *Store) EndWebSessions(ctx context.Context, witnessID, kind, id, except, by, reason string, at time.Time) (int, error) {
	return s.endWebSessions(ctx, s.DB, witnessID, kind, id, except, by, reason, at)
}

func (s *Store) endWebSessions(ctx context.Context, db bun.IDB, witnessID, kind, id, except, by, reason string, at time.Time) (int, error) {
	q := db.NewUpdate().Model((*WebSession)(nil)).Set("ended_at = ?", at.UTC()).Set("ended_by = ?", by).Set("end_reason = ?", reason).
		Where("witness_id = ?", witnessID).Where("ended_at IS NULL")
	if kind != "" {
		q = q.Where("kind = ?", kind)
	}
	if id != "" {
		q = q.Where("id = ?", id)
	}
	if except != "" {
		q = q.Where("id <> ?", except)
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("end the sessions of %s: %w", witnessID, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// PruneWebSessions deletes sessions and tokens that ended or expired before
// `before` (kept until then to answer "who was logged in").
func (s *Store) PruneWebSessions(ctx context.Context, before time.Time) (int, error) {
	res, err := s.DB.NewDelete().Model((*WebSession)(nil)).
		WhereGroup(" AND ", func(q *bun.DeleteQuery) *bun.DeleteQuery {
			return q.Where("expires_at < ?", before.UTC()).WhereOr("ended_at < ?", before.UTC())
		}).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("prune web sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
