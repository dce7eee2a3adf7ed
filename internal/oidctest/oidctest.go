// Package oidctest is a small OpenID Connect provider for tests: discovery,
// JWKS, an authorization endpoint that logs the chosen person in at once, and a
// token endpoint that checks the client secret and the PKCE verifier and issues
// a real RS256-signed ID token with the person's claims (groups included), or,
// by mode, a deliberately bad one. The web package's tests and the browser
// tests both log in through it.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Modes make the next ID tokens bad in one way.
const (
	BadSignature  = "bad-signature"
	WrongAudience = "wrong-audience"
	Expired       = "expired"
	WrongNonce    = "wrong-nonce"
	WrongIssuer   = "wrong-issuer"
)

// Person is who the provider logs in.
type Person struct {
	Subject, Email, Name string
	// EmailUnverified sends email_verified false.
	EmailUnverified bool
	// Groups go into the "groups" claim as a list (Keycloak's group membership
	// mapper); nil sends no groups claim at all.
	Groups []string
	// Claims are more claims, set last (e.g. a nested "realm_access").
	Claims map[string]any
}

// Provider is a running test provider.
type Provider struct {
	URL      string // the issuer
	ClientID string
	Secret   string

	srv      *httptest.Server
	key      *rsa.PrivateKey
	otherKey *rsa.PrivateKey // not in the JWKS: BadSignature

	mu      sync.Mutex
	mode    string
	person  Person
	codes   map[string]authCode
	tokenOK int
}

type authCode struct {
	challenge, nonce, redirect string
	person                     Person
}

// New starts a provider on 127.0.0.1, stopped when the test ends.
func New(t testing.TB) *Provider {
	t.Helper()
	p, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// Start starts a provider on 127.0.0.1; Close stops it.
func Start() (*Provider, error) {
	p := &Provider{ClientID: "guildhall", Secret: "s3cret", codes: map[string]authCode{}}
	var err error
	if p.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if p.otherKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := p.URL
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": iss, "authorization_endpoint": iss + "/authorize", "token_endpoint": iss + "/token",
			"jwks_uri": iss + "/jwks", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"},
			"code_challenge_methods_supported": []string{"S256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(mux)
	p.URL = p.srv.URL
	return p, nil
}

// Close stops the provider.
func (p *Provider) Close() { p.srv.Close() }

// Login sets who the next authorization logs in.
func (p *Provider) Login(who Person) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.person = who
}

// SetMode makes the next ID tokens bad in one way ("" for good ones).
func (p *Provider) SetMode(mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
}

// TokensIssued counts successful token exchanges.
func (p *Provider) TokensIssued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tokenOK
}

func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != p.ClientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("nonce") == "" || !strings.Contains(q.Get("scope"), "openid") {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	code := randomHex(8)
	p.mu.Lock()
	p.codes[code] = authCode{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirect: q.Get("redirect_uri"), person: p.person}
	p.mu.Unlock()
	http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	id, sec, ok := r.BasicAuth()
	if !ok {
		id, sec = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	p.mu.Lock()
	c, found := p.codes[r.PostFormValue("code")]
	delete(p.codes, r.PostFormValue("code"))
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	switch {
	case id != p.ClientID || sec != p.Secret:
		oauthError(w, "invalid_client")
		return
	case !found || c.redirect != r.PostFormValue("redirect_uri"):
		oauthError(w, "invalid_grant")
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
		oauthError(w, "invalid_grant") // PKCE verifier does not match
		return
	}
	idt, err := p.idToken(c.nonce, c.person)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.mu.Lock()
	p.tokenOK++
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + randomHex(4), "token_type": "Bearer", "expires_in": 300, "id_token": idt})
}

func oauthError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

func (p *Provider) idToken(nonce string, who Person) (string, error) {
	p.mu.Lock()
	mode := p.mode
	p.mu.Unlock()
	key := p.key
	if mode == BadSignature {
		key = p.otherKey
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		return "", err
	}
	now := time.Now()
	claims := jwt.Claims{Issuer: p.URL, Subject: who.Subject, Audience: jwt.Audience{p.ClientID},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))}
	switch mode {
	case WrongAudience:
		claims.Audience = jwt.Audience{"someone-else"}
	case Expired:
		claims.IssuedAt, claims.Expiry = jwt.NewNumericDate(now.Add(-2*time.Hour)), jwt.NewNumericDate(now.Add(-time.Hour))
	case WrongNonce:
		nonce = "not-the-nonce"
	case WrongIssuer:
		claims.Issuer = "https://evil.example"
	}
	name := who.Name
	if name == "" {
		name = "Test Person"
	}
	extra := map[string]any{"nonce": nonce, "email": who.Email, "email_verified": !who.EmailUnverified, "name": name}
	if who.Groups != nil {
		extra["groups"] = who.Groups
	}
	maps.Copy(extra, who.Claims)
	return jwt.Signed(signer).Claims(claims).Claims(extra).Serialize()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
