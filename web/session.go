package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/guildhouse/guildhall/store"
)

const sessionCookie = "guildhall_session"

// cookieCodec signs and verifies cookie values with HMAC-SHA256. Values are
// readable by their owner (base64 JSON) but cannot be forged or altered.
type cookieCodec struct{ key []byte }

func newCookieCodec(secret []byte) *cookieCodec {
	// Derive a purpose-bound key so the raw secret is never used directly.
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("guildhall web cookie v1"))
	return &cookieCodec{key: m.Sum(nil)}
}

func (c *cookieCodec) encode(name string, v any) (string, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(body)
	return p + "." + base64.RawURLEncoding.EncodeToString(c.mac(name, p)), nil
}

func (c *cookieCodec) decode(name, value string, v any) error {
	p, sig, ok := strings.Cut(value, ".")
	if !ok {
		return errors.New("malformed cookie")
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, c.mac(name, p)) {
		return errors.New("cookie signature does not match")
	}
	body, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return errors.New("malformed cookie")
	}
	return json.Unmarshal(body, v)
}

// mac binds the cookie name too, so one signed cookie cannot be replayed as another.
func (c *cookieCodec) mac(name, payload string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// session is what the session cookie holds.
type session struct {
	WitnessID string `json:"w"`
	Via       string `json:"v"` // "dev" or "oidc"
	Expires   int64  `json:"e"` // unix seconds
	// NotListed: someone the directory did not know at login (WitnessID is
	// their e-mail or "oidc:<subject>"). Their id is never looked up, so it
	// cannot pick up a record bound to another identity; every page refuses
	// them (requireReader) until an admin has added them and they log in again.
	NotListed bool `json:"r,omitempty"`
	// ID is the secret id of the session's row in the Ops DB (sessions.go).
	ID string `json:"s"`
}

// viewer is the logged-in person as handlers see them.
type viewer struct {
	ID      string
	Name    string
	Via     string
	Witness *store.Witness // nil when the identity has no witness record (requireReader refuses them)
	// Session is the row id of the login session or API token that
	// authenticated the request (sessions.go).
	Session string
}

type ctxKey int

const viewerKey ctxKey = 1

func viewerFrom(ctx context.Context) *viewer {
	v, _ := ctx.Value(viewerKey).(*viewer)
	return v
}

func (a *App) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (a *App) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
}

func (a *App) startSession(w http.ResponseWriter, r *http.Request, witnessID, via string) error {
	return a.startSessionAs(w, r, session{WitnessID: witnessID, Via: via})
}

// startSessionAs records the session's row and sets its cookie.
func (a *App) startSessionAs(w http.ResponseWriter, r *http.Request, s session) error {
	if err := a.recordSession(r, &s); err != nil {
		return err
	}
	v, err := a.cookies.encode(sessionCookie, s)
	if err != nil {
		return err
	}
	a.setCookie(w, sessionCookie, v, a.cfg.SessionTTL)
	return nil
}

// SessionCookieName is the name of the session cookie.
const SessionCookieName = sessionCookie

// loadSession puts the viewer (if any) in the request context. A witness record
// is looked up each request so a deactivated person loses access at once: the
// session ends with a page that says why.
func (a *App) loadSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		var s session
		if err := a.cookies.decode(sessionCookie, c.Value, &s); err != nil || s.WitnessID == "" ||
			a.cfg.Now().Unix() > s.Expires || (s.Via == "dev" && !a.cfg.DevLogin) {
			a.clearCookie(w, sessionCookie)
			next.ServeHTTP(w, r)
			return
		}
		sid, res := a.checkAccess(r.Context(), store.KindSession, s.ID, s.WitnessID)
		switch res {
		case accessGone:
			a.clearCookie(w, sessionCookie)
			next.ServeHTTP(w, r)
			return
		case accessWithdrawn:
			a.clearCookie(w, sessionCookie)
			a.errorPage(w, r, http.StatusForbidden, "Access withdrawn", accessWithdrawnText)
			return
		case accessUnavailable:
			a.errorPage(w, r, http.StatusServiceUnavailable, "Temporarily unavailable", "The database did not answer. Try again in a moment.")
			return
		}
		v := &viewer{ID: s.WitnessID, Name: s.WitnessID, Via: s.Via, Session: sid}
		if s.NotListed {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), viewerKey, v)))
			return
		}
		switch err := a.withWitness(r.Context(), v); {
		case errors.Is(err, errDeactivated):
			a.log.Warn("session of a deactivated person ended", "witness", v.ID, "path", r.URL.Path)
			a.clearCookie(w, sessionCookie)
			a.errorPage(w, r, http.StatusForbidden, "Access withdrawn", accessWithdrawnText)
			return
		case err != nil && !errors.Is(err, store.ErrNotFound):
			a.log.Error("load witness for session", "witness", v.ID, "err", err)
			a.errorPage(w, r, http.StatusServiceUnavailable, "Temporarily unavailable", "The database did not answer. Try again in a moment.")
			return
		}
		// Someone the directory does not know goes on without an entry, for
		// requireReader to refuse with the reason.
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), viewerKey, v)))
	})
}

// errDeactivated: the directory has deactivated the person.
var errDeactivated = errors.New("deactivated in the directory")

// withWitness gives v their directory entry and name. Sessions and API tokens
// alike look it up on every request, so a deactivation ends access at once:
// a deactivated person is errDeactivated, an id the directory does not know
// store.ErrNotFound.
func (a *App) withWitness(ctx context.Context, v *viewer) error {
	wit, err := a.store.GetWitness(ctx, v.ID)
	switch {
	case err != nil:
		return err
	case !wit.Active():
		return errDeactivated
	}
	v.Witness, v.Name = &wit, wit.DisplayName
	return nil
}

func (a *App) requireLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if viewerFrom(r.Context()) == nil {
			target := "/login"
			if r.Method == http.MethodGet && r.URL.Path != "/" {
				target += "?next=" + urlQueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
