package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
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
	var claims struct {
		Email         string `json:"email"`
		EmailVerified *bool  `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil {
		refuse("claims not readable", err)
		return
	}
	id, err := a.witnessForIdentity(r.Context(), idt.Subject, claims.Email, claims.EmailVerified != nil && *claims.EmailVerified)
	if err != nil {
		a.log.Error("OIDC login: map identity", "err", err)
		a.errorPage(w, r, http.StatusServiceUnavailable, "Temporarily unavailable", "The database did not answer. Try again in a moment.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: "/login/oidc", MaxAge: -1, HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
	if err := a.startSession(w, r, id, "oidc"); err != nil {
		a.errorPage(w, r, http.StatusInternalServerError, "Login failed", "The session could not be started.")
		return
	}
	a.log.Info("OIDC login", "subject", idt.Subject, "witness", id)
	http.Redirect(w, r, safeNext(f.Next), http.StatusSeeOther)
}

// emailLookup is optional on the Store: *store.Store has it.
type emailLookup interface {
	WitnessByEmail(ctx context.Context, email string) (store.Witness, error)
}

// witnessForIdentity maps an identity to a witness id: the subject if a witness
// has it as id, else the verified e-mail. An identity with no witness record
// still logs in (read-only) under its e-mail or subject.
func (a *App) witnessForIdentity(ctx context.Context, sub, email string, verified bool) (string, error) {
	if _, err := a.store.GetWitness(ctx, sub); err == nil {
		return sub, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	if email != "" && verified {
		if el, ok := a.store.(emailLookup); ok {
			w, err := el.WitnessByEmail(ctx, email)
			if err == nil {
				return w.ID, nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return "", err
			}
		}
		// No witness has this e-mail: the person reads, but cannot sign.
		return strings.ToLower(email), nil
	}
	return "oidc:" + sub, nil
}
