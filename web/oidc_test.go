package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/internal/oidctest"
	"github.com/guildhouse/guildhall/store/storetest"
)

// roleMap is the identity provider's groups as the tests map them (Keycloak's
// group membership mapper with full paths).
var roleMap = map[string][]string{"/guildhouse/security": {"security"}, "/guildhouse/release": {"release"}, "/guildhouse/admins": {"admin"}}

func newOIDCApp(t *testing.T, p *oidctest.Provider) (*httptest.Server, *App) {
	t.Helper()
	st := storetest.SQLite(t)
	seedWitnesses(t, st)
	var app *App
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { app.ServeHTTP(w, r) }))
	srv.Start()
	t.Cleanup(srv.Close)
	var err error
	app, err = New(Config{BaseURL: strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), SessionSecret: []byte(strings.Repeat("o", 32)),
		OIDC: &OIDCConfig{Issuer: p.URL, ClientID: p.ClientID, ClientSecret: p.Secret, RoleMap: roleMap}},
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
	c, _, end, ok := loginWithStatus(t, appURL)
	return c, end, ok
}

// loginWithStatus is loginThroughIdP with the status of the page it ended on.
func loginWithStatus(t *testing.T, appURL string) (*http.Client, int, string, bool) {
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
	return c, resp.StatusCode, resp.Request.URL.RequestURI(), hasSession
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
	p := oidctest.New(t)
	srv, _ := newOIDCApp(t, p)

	t.Run("valid token maps the verified e-mail to a witness", func(t *testing.T) {
		p.Login(oidctest.Person{Subject: "kc-1234-bob", Email: "Bob@Example.org"})
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
	t.Run("unknown person logs in and is refused every page", func(t *testing.T) {
		p.Login(oidctest.Person{Subject: "kc-9", Email: "zed@example.org", Groups: []string{"/guildhouse/unmapped"}})
		c, code, end, ok := loginWithStatus(t, srv.URL)
		if !ok || end != "/ceremonies" || code != http.StatusForbidden {
			t.Fatalf("ended at %s (%d), session %v", end, code, ok)
		}
		refusedNotInDirectory(t, c, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)+"/account")
	})
	for _, mode := range []string{oidctest.BadSignature, oidctest.WrongAudience, oidctest.Expired, oidctest.WrongNonce, oidctest.WrongIssuer} {
		t.Run("refuses "+mode, func(t *testing.T) {
			p.SetMode(mode)
			defer p.SetMode("")
			p.Login(oidctest.Person{Subject: "kc-1234-bob", Email: "bob@example.org"})
			before := p.TokensIssued()
			_, end, ok := loginThroughIdP(t, srv.URL)
			if ok || end != "/login?error=oidc" {
				t.Fatalf("%s: ended at %s, session %v", mode, end, ok)
			}
			if p.TokensIssued() != before+1 {
				t.Fatalf("%s: the token exchange itself did not happen (%d)", mode, p.TokensIssued()-before)
			}
		})
	}
	t.Run("refuses a callback with another state", func(t *testing.T) {
		p.Login(oidctest.Person{Subject: "kc-1234-bob", Email: "bob@example.org"})
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
