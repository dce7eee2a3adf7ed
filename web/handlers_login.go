package web

import (
	"errors"
	"net/http"
	"slices"

	"github.com/guildhouse/guildhall/store"
)

type loginView struct {
	Next      string
	DevLogin  bool
	OIDC      bool
	Witnesses []store.Witness
	Error     string
	LoggedOut bool
}

func (a *App) loginPage(w http.ResponseWriter, r *http.Request) {
	v := loginView{Next: safeNext(r.URL.Query().Get("next")), DevLogin: a.cfg.DevLogin, OIDC: a.oidcEnabled(),
		LoggedOut: r.URL.Query().Get("bye") == "1"}
	if msg := r.URL.Query().Get("error"); msg != "" {
		v.Error = loginErrorText(msg)
	}
	if a.cfg.DevLogin {
		ws, err := a.store.ListWitnesses(r.Context())
		if err != nil {
			a.log.Error("list witnesses for dev login", "err", err)
			v.Error = "The witness list could not be read from the database."
		}
		v.Witnesses = slices.DeleteFunc(ws, func(w store.Witness) bool { return !w.Active() })
	}
	w.Header().Set("Cache-Control", "no-store")
	a.render(w, r, http.StatusOK, loginPageView(a.meta(r, "Log in"), v))
}

func loginErrorText(code string) string {
	switch code {
	case "oidc":
		return "Login with your identity provider did not succeed. Try again."
	case "expired":
		return "The login took too long. Try again."
	case "unknown":
		return "Your account is not registered as a witness."
	}
	return "Login did not succeed."
}

// devLogin is the DEVELOPMENT-ONLY pick-a-witness login. It does not exist
// (404) unless Config.DevLogin is set, which New allows only on loopback hosts.
func (a *App) devLogin(w http.ResponseWriter, r *http.Request) {
	if !a.cfg.DevLogin {
		a.errorPage(w, r, http.StatusNotFound, "Page not found", "There is nothing at this address.")
		return
	}
	id := r.PostFormValue("witness")
	wit, err := a.store.GetWitness(r.Context(), id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			a.errorPage(w, r, http.StatusBadRequest, "Unknown witness", "Pick a witness from the list.")
			return
		}
		a.log.Error("dev login: load witness", "witness", id, "err", err)
		a.errorPage(w, r, http.StatusServiceUnavailable, "Temporarily unavailable", "The database did not answer. Try again in a moment.")
		return
	}
	if !wit.Active() {
		a.errorPage(w, r, http.StatusForbidden, "Access withdrawn", accessWithdrawnText)
		return
	}
	if err := a.startSession(w, r, wit.ID, "dev"); err != nil {
		a.log.Error("dev login: start session", "err", err)
		a.errorPage(w, r, http.StatusInternalServerError, "Login failed", "The session could not be started.")
		return
	}
	a.log.Info("development login", "witness", wit.ID)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	if me := viewerFrom(r.Context()); me != nil && me.Session != "" {
		// The row ends, so the cookie opens nothing even if it was copied.
		if _, err := a.store.EndWebSessions(r.Context(), me.ID, store.KindSession, me.Session, "", me.ID, store.EndLogout, a.cfg.Now()); err != nil {
			a.dbError(w, r, "end the session at logout", err)
			return
		}
	}
	a.clearCookie(w, sessionCookie)
	http.Redirect(w, r, "/login?bye=1", http.StatusSeeOther)
}
