package web

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
)

// The account page: who you are, your passkeys, your ed25519 keys (added with
// a proof of possession), your API tokens and your sessions, each of which you
// can end here.

// KeyStore registers ed25519 keys with a proof of possession; *store.Store
// has it.
type KeyStore interface {
	NewKeyChallenge(ctx context.Context, witnessID string) (statement.KeyChallenge, error)
	AddProvenKey(ctx context.Context, witnessID string, p statement.Possession, label, by string) (store.Credential, error)
}

type accountView struct {
	// Witness is the viewer's directory entry (every reader has one: requireReader).
	Witness  *store.Witness
	Token    string // a freshly issued API token, shown once
	TokenExp time.Time
	// PasskeysOff: the base URL is an IP, so WebAuthn cannot work.
	PasskeysOff bool
	// Sessions and Tokens are the viewer's live ones; Current is the row id of
	// the session this page was asked for with.
	Sessions, Tokens []store.WebSession
	Current          string
	// KeyChallenge is a challenge to sign with a key to add (statement.KeyChallenge).
	KeyChallenge string
	// Ended confirms what the viewer just ended.
	Ended string
}

func (a *App) account(w http.ResponseWriter, r *http.Request) {
	v := accountView{}
	switch r.URL.Query().Get("ended") {
	case "session":
		v.Ended = "The session was ended."
	case "others":
		v.Ended = "Your other sessions were ended."
	case "token":
		v.Ended = "The token was revoked: it no longer works."
	}
	w.Header().Set("Cache-Control", "no-store")
	a.renderAccount(w, r, http.StatusOK, v, "")
}

// renderAccount draws the account page with v's one-time parts, the viewer's
// keys, sessions and tokens, and errMsg if any.
func (a *App) renderAccount(w http.ResponseWriter, r *http.Request, code int, v accountView, errMsg string) {
	me := viewerFrom(r.Context())
	v.Witness, v.PasskeysOff, v.Current = me.Witness, a.webauthn == nil, me.Session
	live, err := a.store.LiveWebSessions(r.Context(), me.ID, a.cfg.Now())
	if err != nil {
		a.dbError(w, r, "list sessions", err)
		return
	}
	for _, s := range live {
		if s.Kind == store.KindToken {
			v.Tokens = append(v.Tokens, s)
		} else {
			v.Sessions = append(v.Sessions, s)
		}
	}
	a.render(w, r, code, accountPage(a.meta(r, "Your account"), v, errMsg))
}

// lastUsed says when a session or token was last used (to the minute).
func lastUsed(s store.WebSession) string {
	if !s.LastUsedAt.After(s.CreatedAt) {
		return "not since it was made"
	}
	return fmtTime(s.LastUsedAt)
}

// endMySession ends one of the viewer's sessions (id), or all but this one
// (others=1).
func (a *App) endMySession(w http.ResponseWriter, r *http.Request) {
	me := viewerFrom(r.Context())
	id, except, done := r.PostFormValue("id"), "", "session"
	if r.PostFormValue("others") == "1" {
		id, except, done = "", me.Session, "others"
	}
	if id == "" && except == "" {
		a.renderAccount(w, r, http.StatusUnprocessableEntity, accountView{}, "Say which session to end.")
		return
	}
	n, err := a.store.EndWebSessions(r.Context(), me.ID, store.KindSession, id, except, me.ID, store.EndByOwner, a.cfg.Now())
	if err != nil {
		a.dbError(w, r, "end a session", err)
		return
	}
	a.log.Info("sessions ended by their holder", "witness", me.ID, "count", n)
	if id != "" && id == me.Session {
		// Ending this very session is logging out.
		a.clearCookie(w, sessionCookie)
		http.Redirect(w, r, "/login?bye=1", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/account?ended="+done+"#sessions", http.StatusSeeOther)
}

// revokeMyToken revokes one of the viewer's API tokens.
func (a *App) revokeMyToken(w http.ResponseWriter, r *http.Request) {
	me := viewerFrom(r.Context())
	id := r.PostFormValue("id")
	if id == "" {
		a.renderAccount(w, r, http.StatusUnprocessableEntity, accountView{}, "Say which token to revoke.")
		return
	}
	n, err := a.store.EndWebSessions(r.Context(), me.ID, store.KindToken, id, "", me.ID, store.EndByOwner, a.cfg.Now())
	if err != nil {
		a.dbError(w, r, "revoke a token", err)
		return
	}
	if n == 0 {
		a.renderAccount(w, r, http.StatusNotFound, accountView{}, "No such token of yours is in use; it may have been revoked or expired already.")
		return
	}
	a.log.Info("API token revoked by its holder", "witness", me.ID)
	http.Redirect(w, r, "/account?ended=token#api-access", http.StatusSeeOther)
}

// apiSessionRoutes: admins list and end a person's sessions and tokens.
func (a *App) apiSessionRoutes(r chi.Router) {
	r.Use(a.requireAdmin)
	r.Get("/witnesses/{id}/sessions", a.apiWitnessSessions)
	r.Post("/witnesses/{id}/sessions/end", a.apiEndWitnessSessions)
}

// apiSession is a session or token as the admin API shows it.
type apiSession struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Via        string    `json:"via"`
	Label      string    `json:"label,omitempty"`
	Device     string    `json:"device,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	LastUsedAt time.Time `json:"lastUsedAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

// apiWitnessSessions lists a person's live sessions and tokens (admins).
func (a *App) apiWitnessSessions(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	live, err := a.store.LiveWebSessions(r.Context(), id, a.cfg.Now())
	if err != nil {
		a.log.Error("API: list sessions", "witness", id, "err", err)
		problem(w, http.StatusServiceUnavailable, "temporarily unavailable", "The operations database did not answer.")
		return
	}
	out := make([]apiSession, 0, len(live))
	for _, s := range live {
		as := apiSession{ID: s.ID, Kind: s.Kind, Via: s.Via, Label: s.Label, CreatedAt: s.CreatedAt, LastUsedAt: s.LastUsedAt, ExpiresAt: s.ExpiresAt}
		if s.Kind == store.KindSession {
			as.Device = deviceName(s.UserAgent)
		}
		out = append(out, as)
	}
	writeJSON(w, http.StatusOK, map[string]any{"witnessId": id, "items": out})
}

// apiEndWitnessSessions ends a person's sessions and tokens at once, on every
// replica (admins): all of them, or one (?id=), or one kind (?kind=session or
// token).
func (a *App) apiEndWitnessSessions(w http.ResponseWriter, r *http.Request) {
	me, id := viewerFrom(r.Context()), chi.URLParam(r, "id")
	q := r.URL.Query()
	kind := q.Get("kind")
	if kind != "" && kind != store.KindSession && kind != store.KindToken {
		problem(w, http.StatusBadRequest, "invalid kind", "kind is session or token (or leave it out for both).")
		return
	}
	n, err := a.store.EndWebSessions(r.Context(), id, kind, q.Get("id"), "", me.ID, store.EndByAdmin, a.cfg.Now())
	if err != nil {
		a.log.Error("API: end sessions", "witness", id, "err", err)
		problem(w, http.StatusServiceUnavailable, "temporarily unavailable", "The operations database did not answer.")
		return
	}
	a.log.Warn("sessions ended by an admin", "witness", id, "admin", me.ID, "count", n, "kind", kind)
	writeJSON(w, http.StatusOK, map[string]any{"witnessId": id, "ended": n})
}
