package web

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/guildhouse/guildhall/store/storetest"
)

// testIdP is a small OpenID Connect provider for tests: discovery, JWKS, an
// authorization endpoint that logs the configured subject in at once, and a
// token endpoint that checks the client secret and the PKCE verifier and issues
// a real RS256-signed ID token — or, by mode, a deliberately bad one.
type testIdP struct {
	srv      *httptest.Server
	key      *rsa.PrivateKey
	otherKey *rsa.PrivateKey // not in the JWKS: "bad signature"
	clientID string
	secret   string

	mu      sync.Mutex
	mode    string // "", "bad-signature", "wrong-audience", "expired", "wrong-nonce", "wrong-issuer"
	subject string
	email   string
	codes   map[string]authCode
	tokenOK int // successful token exchanges
}

type authCode struct {
	challenge, nonce, redirect string
}

func newTestIdP(t *testing.T) *testIdP {
	t.Helper()
	p := &testIdP{clientID: "guildhall", secret: "s3cret", codes: map[string]authCode{}}
	var err error
	if p.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if p.otherKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := p.srv.URL
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
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != p.clientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
			q.Get("code_challenge") == "" || q.Get("nonce") == "" || !strings.Contains(q.Get("scope"), "openid") {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		code := randomHex(8)
		p.mu.Lock()
		p.codes[code] = authCode{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirect: q.Get("redirect_uri")}
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
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
		case id != p.clientID || sec != p.secret:
			oauthError(w, "invalid_client")
			return
		case !found || c.redirect != r.PostFormValue("redirect_uri"):
			oauthError(w, "invalid_grant")
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
			oauthError(w, "invalid_grant") // PKCE verifier does not match
			return
		}
		idt, err := p.idToken(c.nonce)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		p.mu.Lock()
		p.tokenOK++
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + randomHex(4), "token_type": "Bearer", "expires_in": 300, "id_token": idt})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func oauthError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

func (p *testIdP) set(mode, subject, email string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.subject, p.email = mode, subject, email
}

func (p *testIdP) idToken(nonce string) (string, error) {
	p.mu.Lock()
	mode, sub, email := p.mode, p.subject, p.email
	p.mu.Unlock()
	key := p.key
	if mode == "bad-signature" {
		key = p.otherKey
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		return "", err
	}
	now := time.Now()
	claims := jwt.Claims{Issuer: p.srv.URL, Subject: sub, Audience: jwt.Audience{p.clientID},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))}
	switch mode {
	case "wrong-audience":
		claims.Audience = jwt.Audience{"someone-else"}
	case "expired":
		claims.IssuedAt, claims.Expiry = jwt.NewNumericDate(now.Add(-2*time.Hour)), jwt.NewNumericDate(now.Add(-time.Hour))
	case "wrong-nonce":
		nonce = "not-the-nonce"
	case "wrong-issuer":
		claims.Issuer = "https://evil.example"
	}
	extra := map[string]any{"nonce": nonce, "email": email, "email_verified": true, "name": "Test Person"}
	return jwt.Signed(signer).Claims(claims).Claims(extra).Serialize()
}

func newOIDCApp(t *testing.T, p *testIdP) (*httptest.Server, *App) {
	t.Helper()
	st := storetest.SQLite(t)
	seedWitnesses(t, st)
	var app *App
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { app.ServeHTTP(w, r) }))
	srv.Start()
	t.Cleanup(srv.Close)
	var err error
	app, err = New(Config{BaseURL: strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), SessionSecret: []byte(strings.Repeat("o", 32)),
		OIDC: &OIDCConfig{Issuer: p.srv.URL, ClientID: p.clientID, ClientSecret: p.secret}},
		Deps{Store: st, Ceremonies: newFake(st), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Shutdown)
	return srv, app
}

// loginThroughIdP follows the whole redirect dance in one browser-like client
// and returns where it ended and whether a session was set.
func loginThroughIdP(t *testing.T, appURL string) (*http.Client, string, bool) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	// The app's base URL says localhost; the test server listens on 127.0.0.1.
	c.Transport = rewriteLocalhost{}
	resp, err := c.Get(strings.Replace(appURL, "127.0.0.1", "localhost", 1) + "/login/oidc?next=%2Fceremonies")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(strings.Replace(appURL, "127.0.0.1", "localhost", 1))
	hasSession := false
	for _, ck := range jar.Cookies(u) {
		if ck.Name == sessionCookie {
			hasSession = true
		}
	}
	return c, resp.Request.URL.RequestURI(), hasSession
}

// rewriteLocalhost dials 127.0.0.1 for "localhost" (no resolver games in tests).
type rewriteLocalhost struct{}

func (rewriteLocalhost) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.URL.Host = strings.Replace(r2.URL.Host, "localhost", "127.0.0.1", 1)
	r2.Host = r.URL.Host
	return http.DefaultTransport.RoundTrip(r2)
}

func TestOIDCLogin(t *testing.T) {
	p := newTestIdP(t)
	srv, app := newOIDCApp(t, p)

	t.Run("valid token maps the verified e-mail to a witness", func(t *testing.T) {
		p.set("", "kc-1234-bob", "Bob@Example.org")
		c, end, ok := loginThroughIdP(t, srv.URL)
		if !ok || end != "/ceremonies" {
			t.Fatalf("ended at %s, session %v", end, ok)
		}
		resp, err := c.Get(strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/account")
		if err != nil {
			t.Fatal(err)
		}
		page := readAll(t, resp)
		if !strings.Contains(page, "bob@example.org") || !strings.Contains(page, "identity provider") {
			t.Fatalf("account page does not show bob:\n%s", page)
		}
	})
	t.Run("unknown person logs in read-only", func(t *testing.T) {
		p.set("", "kc-9", "zed@example.org")
		c, end, ok := loginThroughIdP(t, srv.URL)
		if !ok || end != "/ceremonies" {
			t.Fatalf("ended at %s, session %v", end, ok)
		}
		resp, _ := c.Get(strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/account")
		if page := readAll(t, resp); !strings.Contains(page, "not registered as a witness") {
			t.Fatal("unknown identity treated as a witness")
		}
	})
	for _, mode := range []string{"bad-signature", "wrong-audience", "expired", "wrong-nonce", "wrong-issuer"} {
		t.Run("refuses "+mode, func(t *testing.T) {
			p.set(mode, "kc-1234-bob", "bob@example.org")
			before := p.tokenOK
			_, end, ok := loginThroughIdP(t, srv.URL)
			if ok || end != "/login?error=oidc" {
				t.Fatalf("%s: ended at %s, session %v", mode, end, ok)
			}
			if p.tokenOK != before+1 {
				t.Fatalf("%s: the token exchange itself did not happen (%d)", mode, p.tokenOK-before)
			}
		})
	}
	t.Run("refuses a callback with another state", func(t *testing.T) {
		p.set("", "kc-1234-bob", "bob@example.org")
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Transport: rewriteLocalhost{},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		base := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
		resp, err := c.Get(base + "/login/oidc")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		authz, _ := url.Parse(resp.Header.Get("Location"))
		q := authz.Query()
		q.Set("state", "attacker-state")
		authz.RawQuery = q.Encode()
		resp, err = c.Get(authz.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		resp, err = c.Get(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Location") != "/login?error=oidc" {
			t.Fatalf("forged state accepted: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("refuses a callback without the flow cookie (login CSRF)", func(t *testing.T) {
		resp, err := (&http.Client{Transport: rewriteLocalhost{}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).
			Get(strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/login/oidc/callback?code=x&state=y")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Location") != "/login?error=oidc" || len(resp.Cookies()) > 1 {
			t.Fatalf("callback without flow: %s %v", resp.Header.Get("Location"), resp.Cookies())
		}
	})
	_ = app
}

func TestOIDCProviderDownDoesNotBlockStart(t *testing.T) {
	st := storetest.SQLite(t)
	app, err := New(Config{BaseURL: "http://localhost:4000", SessionSecret: []byte(strings.Repeat("o", 32)),
		OIDC: &OIDCConfig{Issuer: "http://127.0.0.1:1", ClientID: "x"}},
		Deps{Store: st, Ceremonies: newFake(st), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	app.ServeHTTP(rec, mustReq(http.MethodGet, "/login/oidc", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "cannot be reached") {
		t.Fatalf("provider down: %d", rec.Code)
	}
	rec = newRecorder()
	app.ServeHTTP(rec, mustReq(http.MethodGet, "/health", nil))
	if rec.Code != 200 {
		t.Fatalf("health with the provider down: %d", rec.Code)
	}
}
