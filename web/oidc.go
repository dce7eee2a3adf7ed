package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/guildhouse/guildhall/store"
)

// OIDCConfig configures login through an OpenID Connect provider (Keycloak or
// any compliant one): authorization code flow with PKCE, state and nonce.
type OIDCConfig struct {
	Issuer       string // OIDC_ISSUER, e.g. https://keycloak.example.org/realms/guild
	ClientID     string // OIDC_CLIENT_ID
	ClientSecret string // OIDC_CLIENT_SECRET (empty for a public client)
	// RolesClaim is the ID token claim holding the person's groups (default
	// "groups", OIDC_ROLES_CLAIM); RoleMap maps its values to roles
	// (OIDC_ROLE_MAP). A person whose groups map to a role is added to the
	// directory at their first login, and their identity provider roles are
	// re-synced at every login.
	RolesClaim string
	RoleMap    map[string][]string
	// Scopes beyond "openid" (default: profile, email).
	Scopes []string
	// HTTPClient talks to the provider (tests); default http.DefaultClient with a timeout.
	HTTPClient *http.Client
}

const (
	oidcCookie   = "guildhall_oidc"
	oidcFlowTTL  = 10 * time.Minute
	oidcCallback = "/login/oidc/callback"
)

// oidcLogin discovers the provider lazily, so the app starts (and serves the
// dev login, health and reads) even while the identity provider is down.
type oidcLogin struct {
	cfg      OIDCConfig
	redirect string
	client   *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    *oauth2.Config
}

func newOIDCLogin(cfg OIDCConfig, baseURL string) *oidcLogin {
	if cfg.RolesClaim == "" {
		cfg.RolesClaim = "groups"
	}
	c := cfg.HTTPClient
	if c == nil {
		c = &http.Client{Timeout: 15 * time.Second}
	}
	return &oidcLogin{cfg: cfg, redirect: baseURL + oidcCallback, client: c}
}

func (o *oidcLogin) setup(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.oauth, o.verifier, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, o.client), o.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("discover OIDC provider %s: %w", o.cfg.Issuer, err)
	}
	scopes := o.cfg.Scopes
	if len(scopes) == 0 {
		scopes = []string{"profile", "email"}
	}
	o.provider = p
	o.verifier = p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID})
	o.oauth = &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: o.redirect, Scopes: append([]string{oidc.ScopeOpenID}, scopes...)}
	return o.oauth, o.verifier, nil
}

// oidcFlow is what the browser carries between the redirect and the callback.
type oidcFlow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"` // PKCE code verifier
	Next     string `json:"x"`
	Expires  int64  `json:"e"`
}

func (a *App) oidcEnabled() bool { return a.oidc != nil }

// oidcStart redirects to the provider's authorization endpoint.
func (a *App) oidcStart(w http.ResponseWriter, r *http.Request) {
	if a.oidc == nil {
		a.errorPage(w, r, http.StatusNotFound, "Page not found", "Login through an identity provider is not configured.")
		return
	}
	oc, _, err := a.oidc.setup(r.Context())
	if err != nil {
		a.log.Error("OIDC login unavailable", "err", err)
		a.errorPage(w, r, http.StatusServiceUnavailable, "Login unavailable", "The identity provider cannot be reached right now. Try again in a moment.")
		return
	}
	f := oidcFlow{State: randomHex(16), Nonce: randomHex(16), Verifier: oauth2.GenerateVerifier(),
		Next: safeNext(r.URL.Query().Get("next")), Expires: a.cfg.Now().Add(oidcFlowTTL).Unix()}
	v, err := a.cookies.encode(oidcCookie, f)
	if err != nil {
		a.errorPage(w, r, http.StatusInternalServerError, "Login failed", "The login could not be started.")
		return
	}
	// Lax (not Strict): the provider's redirect back is a top-level GET from
	// another site, which Lax cookies accompany.
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: v, Path: "/login/oidc", MaxAge: int(oidcFlowTTL.Seconds()),
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, oc.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), http.StatusFound)
}

// oidcCallbackHandler finishes the login: state, code exchange with the PKCE
// verifier, ID token signature/issuer/audience/expiry (go-oidc), then nonce.
func (a *App) oidcCallbackHandler(w http.ResponseWriter, r *http.Request) {
	if a.oidc == nil {
		a.errorPage(w, r, http.StatusNotFound, "Page not found", "Login through an identity provider is not configured.")
		return
	}
	refuse := func(reason string, err error) {
		a.log.Warn("OIDC login refused", "reason", reason, "err", err)
		http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: "/login/oidc", MaxAge: -1, HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, "/login?error=oidc", http.StatusSeeOther)
	}
	c, err := r.Cookie(oidcCookie)
	if err != nil {
		refuse("no login in progress (cookie missing)", err)
		return
	}
	var f oidcFlow
	if err := a.cookies.decode(oidcCookie, c.Value, &f); err != nil || a.cfg.Now().Unix() > f.Expires {
		refuse("login flow cookie invalid or expired", err)
		return
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		refuse("provider returned an error", errors.New(e+": "+q.Get("error_description")))
		return
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		refuse("state does not match", nil)
		return
	}
	oc, verifier, err := a.oidc.setup(r.Context())
	if err != nil {
		refuse("provider unavailable", err)
		return
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(r.Context(), a.oidc.client), 15*time.Second)
	defer cancel()
	tok, err := oc.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		refuse("code exchange failed", err)
		return
	}
	rawID, ok := tok.Extra("id_token").(string)
	if !ok || rawID == "" {
		refuse("no id_token in the token response", nil)
		return
	}
	idt, err := verifier.Verify(ctx, rawID)
	if err != nil {
		refuse("ID token not valid", err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		refuse("nonce does not match", nil)
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		refuse("claims not readable", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: "/login/oidc", MaxAge: -1, HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
	a.oidcSignIn(w, r, identityOf(idt.Issuer, idt.Subject, claims), a.oidc.roles(claims), safeNext(f.Next))
}

// oidcSignIn starts the session of a verified identity. The directory finds
// the person by the identity bound to them (or, at their first login, by the
// verified e-mail) and re-syncs the roles their groups map to; someone it does
// not know is added when a group maps to a role. Otherwise they get a session
// that holds no role: every page refuses them (403 "Not in the directory",
// requireReader) and says whom to ask; once an admin adds them they log in
// again. A deactivated person is turned away.
func (a *App) oidcSignIn(w http.ResponseWriter, r *http.Request, id store.Identity, roles []string, next string) {
	wit, err := a.store.SyncIdentity(r.Context(), id, roles, len(roles) > 0)
	notListed := false
	switch {
	case err == nil && !wit.Active():
		a.log.Warn("OIDC login refused: deactivated in the directory", "subject", id.Subject, "witness", wit.ID)
		a.errorPage(w, r, http.StatusForbidden, "Access withdrawn", accessWithdrawnText)
		return
	case err == nil:
	case errors.Is(err, store.ErrNotFound):
		// Not in the directory and no group maps to a role: a session under
		// their e-mail (or subject) that every page refuses, saying why.
		notListed = true
		wit.ID = id.Email
		if wit.ID == "" {
			wit.ID = "oidc:" + id.Subject
		}
	case errors.Is(err, store.ErrIdentityConflict):
		a.log.Warn("OIDC login refused", "subject", id.Subject, "err", err)
		a.errorPage(w, r, http.StatusConflict, "Your login does not match the directory",
			"The directory already holds "+id.Email+" for another login of your identity provider, so this one cannot take it. Ask an admin to check the directory.")
		return
	default:
		a.log.Error("OIDC login: sync the directory", "subject", id.Subject, "err", err)
		a.errorPage(w, r, http.StatusServiceUnavailable, "Temporarily unavailable", "The database did not answer. Try again in a moment.")
		return
	}
	if err := a.startSessionAs(w, r, session{WitnessID: wit.ID, Via: "oidc", NotListed: notListed}); err != nil {
		a.errorPage(w, r, http.StatusInternalServerError, "Login failed", "The session could not be started.")
		return
	}
	a.log.Info("OIDC login", "subject", id.Subject, "witness", wit.ID, "identity_provider_roles", roles, "not_in_directory", notListed)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// identityOf reads who logged in from the ID token's claims; the e-mail only
// when the provider says it verified it.
func identityOf(issuer, subject string, claims map[string]any) store.Identity {
	id := store.Identity{Issuer: issuer, Subject: subject}
	id.Name, _ = claims["name"].(string)
	if id.Name == "" {
		id.Name, _ = claims["preferred_username"].(string)
	}
	if verified, _ := claims["email_verified"].(bool); verified {
		email, _ := claims["email"].(string)
		id.Email = strings.ToLower(strings.TrimSpace(email))
	}
	return id
}

// roles maps the values of the roles claim to Guildhall roles, sorted.
func (o *oidcLogin) roles(claims map[string]any) []string {
	var out []string
	for _, v := range claimValues(claims, o.cfg.RolesClaim) {
		for _, r := range o.cfg.RoleMap[v] {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	slices.Sort(out)
	return out
}

// claimValues reads a claim that holds a list of strings or one string. A
// name not found as it is is read as a path through nested objects
// ("realm_access.roles"); URL-like claim names keep their dots.
func claimValues(claims map[string]any, name string) []string {
	v, ok := claims[name]
	if !ok {
		var cur any = claims
		for _, part := range strings.Split(name, ".") {
			m, isMap := cur.(map[string]any)
			if !isMap {
				return nil
			}
			cur = m[part]
		}
		v = cur
	}
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
