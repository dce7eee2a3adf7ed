package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/guildhouse/guildhall/store"
)

// Sessions and API tokens can really be ended. Each is a row in the Ops DB
// (store.WebSession); the cookie or token carries a random secret id, signed
// with the session secret as before, and every request looks the row up: an
// unknown, ended or expired row, or one of another person, lets nobody in. So
// logging out, ending a session or revoking a token on the account page, an
// admin ending a person's sessions and a deactivation all take effect at once
// on every replica. Only the secret's SHA-256 is stored.
//
// The check is one primary-key read per request (BENCHMARKS.md); the time of
// last use is written at most once a minute per session.

// SessionStore keeps sessions and tokens; *store.Store has it.
type SessionStore interface {
	CreateWebSessions(ctx context.Context, ws ...store.WebSession) error
	GetWebSession(ctx context.Context, id string) (store.WebSession, error)
	TouchWebSession(ctx context.Context, id string, at time.Time) error
	LiveWebSessions(ctx context.Context, witnessID string, now time.Time) ([]store.WebSession, error)
	EndWebSessions(ctx context.Context, witnessID, kind, id, except, by, reason string, at time.Time) (int, error)
	PruneWebSessions(ctx context.Context, before time.Time) (int, error)
}

const (
	// touchEvery bounds how often a session's last use is written.
	touchEvery = time.Minute
	// keepEnded is how long ended and expired sessions stay on record.
	keepEnded = 90 * 24 * time.Hour
	// maxUserAgent is how much of a User-Agent is kept.
	maxUserAgent = 200
)

// newSecretID returns a fresh secret id for a cookie or token and the id of
// its row.
func newSecretID() (secret, id string) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	secret = hex.EncodeToString(b)
	return secret, sessionRowID(secret)
}

// sessionRowID is the row id of a secret id: its SHA-256, so the table does
// not hold what lets anyone in.
func sessionRowID(secret string) string {
	sum := sha256.Sum256([]byte("guildhall web session v1\x00" + secret))
	return hex.EncodeToString(sum[:])
}

// newWebSession is the row of a new session or token.
func newWebSession(kind, witnessID, via, label string, now time.Time, ttl time.Duration) (secret string, ws store.WebSession) {
	secret, id := newSecretID()
	now = now.UTC()
	return secret, store.WebSession{ID: id, Kind: kind, WitnessID: witnessID, Via: via, Label: label,
		CreatedAt: now, ExpiresAt: now.Add(ttl), LastUsedAt: now}
}

// recordSession makes the row of a login session for s and puts its secret id
// in s; the caller sets the cookie.
func (a *App) recordSession(r *http.Request, s *session) error {
	secret, ws := newWebSession(store.KindSession, s.WitnessID, s.Via, "", a.cfg.Now(), a.cfg.SessionTTL)
	ws.UserAgent, ws.ClientIP = truncate(r.UserAgent(), maxUserAgent), middleware.GetClientIP(r.Context())
	if err := a.store.CreateWebSessions(r.Context(), ws); err != nil {
		return err
	}
	if old := viewerFrom(r.Context()); old != nil && old.Session != "" {
		// A login over a live session replaces it.
		if _, err := a.store.EndWebSessions(r.Context(), old.ID, store.KindSession, old.Session, "", old.ID, store.EndLogout, a.cfg.Now()); err != nil {
			a.log.Warn("end the session a login replaced", "err", err)
		}
	}
	s.ID, s.Expires = secret, ws.ExpiresAt.Unix()
	a.prune(r.Context())
	return nil
}

// accessResult is what checking a session or token found.
type accessResult int

const (
	accessOK          accessResult = iota
	accessGone                     // unknown, ended, expired or not this person's: as if absent
	accessWithdrawn                // ended because its holder was deactivated
	accessUnavailable              // the Ops DB did not answer
)

// checkAccess looks up the row of a session or token (kind) that claims to be
// witnessID's, and records its use now and then. It returns the row id.
func (a *App) checkAccess(ctx context.Context, kind, secret, witnessID string) (string, accessResult) {
	if secret == "" {
		return "", accessGone
	}
	id := sessionRowID(secret)
	ws, err := a.store.GetWebSession(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return id, accessGone
	case err != nil:
		a.log.Error("check a session", "err", err)
		return id, accessUnavailable
	case ws.Kind != kind || ws.WitnessID != witnessID:
		return id, accessGone
	case ws.EndedAt != nil && ws.EndReason == store.EndDeactivated:
		return id, accessWithdrawn
	case !ws.Live(a.cfg.Now()):
		return id, accessGone
	}
	if now := a.cfg.Now(); now.Sub(ws.LastUsedAt) >= touchEvery {
		if err := a.store.TouchWebSession(ctx, id, now); err != nil {
			a.log.Warn("record the use of a session", "err", err)
		}
	}
	return id, accessOK
}

// refuseToken answers a request whose bearer token does not let it in.
func (a *App) refuseToken(w http.ResponseWriter, tok string, res accessResult) {
	switch {
	case res == accessWithdrawn:
		problem(w, http.StatusForbidden, "deactivated", accessWithdrawnText)
	case res == accessUnavailable:
		problem(w, http.StatusServiceUnavailable, "temporarily unavailable", "The database did not answer.")
	case strings.HasPrefix(tok, oldTokenPrefix):
		w.Header().Set("WWW-Authenticate", `Bearer realm="guildhall", error="invalid_token"`)
		problem(w, http.StatusUnauthorized, "invalid token",
			"This token was made before tokens could be revoked and is no longer accepted. Create a new one on your account page.")
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="guildhall", error="invalid_token"`)
		problem(w, http.StatusUnauthorized, "invalid token", "The token is not valid, has expired or was revoked.")
	}
}

// errAccessEnded: the viewer's session or token ended during the request.
var errAccessEnded = errors.New("your session or token has ended")

// stillLive checks again, right before the web vouches for a signature, that
// the viewer's session or token has not ended since the request began.
func (a *App) stillLive(ctx context.Context, v *viewer) error {
	if v == nil || v.Session == "" {
		return errAccessEnded
	}
	ws, err := a.store.GetWebSession(ctx, v.Session)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errAccessEnded
	case err != nil:
		return err
	case !ws.Live(a.cfg.Now()) || ws.WitnessID != v.ID:
		return errAccessEnded
	}
	return nil
}

// accessWithdrawnText tells a deactivated person why they were let out.
const accessWithdrawnText = "An admin deactivated you in the directory, so your sessions and API tokens have ended. " +
	"If this is a mistake, ask an admin to reactivate you, then log in again."

var lastPrune atomic.Int64

// prune deletes long-ended sessions, at most once an hour per process.
func (a *App) prune(ctx context.Context) {
	now := a.cfg.Now()
	if last := lastPrune.Load(); now.Unix()-last < 3600 || !lastPrune.CompareAndSwap(last, now.Unix()) {
		return
	}
	if n, err := a.store.PruneWebSessions(ctx, now.Add(-keepEnded)); err != nil {
		a.log.Warn("prune old sessions", "err", err)
	} else if n > 0 {
		a.log.Info("old sessions pruned", "count", n)
	}
}

// SessionCookie records a session for witnessID in st, as an OIDC login does,
// and returns the session cookie's value signed with secret. It is for tests
// that act as a logged-in witness without a login round trip; a negative ttl
// makes an expired session.
func SessionCookie(ctx context.Context, st SessionStore, secret []byte, witnessID string, ttl time.Duration) (string, error) {
	sid, ws := newWebSession(store.KindSession, witnessID, "oidc", "", time.Now(), ttl)
	if err := st.CreateWebSessions(ctx, ws); err != nil {
		return "", err
	}
	return newCookieCodec(secret).encode(sessionCookie, session{WitnessID: witnessID, Via: "oidc", Expires: ws.ExpiresAt.Unix(), ID: sid})
}

// IssueToken records an API token for witnessID in st, valid for ttl, and
// returns it signed with secret exactly as the account page issues it. It is
// for tools and tests that act as many witnesses at once; a negative ttl makes
// an expired token.
func IssueToken(ctx context.Context, st SessionStore, secret []byte, witnessID string, ttl time.Duration) (string, error) {
	tok, ws, err := NewToken(secret, witnessID, "issued by a tool", time.Now(), ttl)
	if err != nil {
		return "", err
	}
	return tok, st.CreateWebSessions(ctx, ws)
}

// NewToken makes an API token and the row that makes it valid, for tools that
// record many at once (the benchmark): the token works once ws is stored
// (store.CreateWebSessions).
func NewToken(secret []byte, witnessID, label string, now time.Time, ttl time.Duration) (tok string, ws store.WebSession, err error) {
	sid, ws := newWebSession(store.KindToken, witnessID, "token", label, now, ttl)
	tok, err = newCookieCodec(secret).token(witnessID, sid, ws.ExpiresAt)
	return tok, ws, err
}

// deviceName says in a few words what a session's User-Agent is.
func deviceName(ua string) string {
	if ua == "" {
		return "unknown device"
	}
	browser := ""
	for _, b := range [][2]string{{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Chromium/", "Chromium"}, {"Safari/", "Safari"}} {
		if strings.Contains(ua, b[0]) {
			browser = b[1]
			break
		}
	}
	system := ""
	for _, o := range [][2]string{{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"}} {
		if strings.Contains(ua, o[0]) {
			system = o[1]
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	}
	name, _, _ := strings.Cut(ua, " ")
	return truncate(name, 40)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
