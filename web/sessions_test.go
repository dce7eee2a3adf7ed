package web

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

// cookieOf is the session cookie a client holds for the harness's server.
func (h *harness) cookieOf(c *http.Client) string {
	h.t.Helper()
	u, _ := url.Parse(h.srv.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == sessionCookie {
			return ck.Value
		}
	}
	h.t.Fatal("no session cookie")
	return ""
}

// withCookie is a fresh client that presents a copied session cookie.
func (h *harness) withCookie(value string) *http.Client {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(h.srv.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: value, Path: "/"}})
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// mintToken creates an API token on the account page, as its holder does.
func (h *harness) mintToken(c *http.Client, label string) string {
	h.t.Helper()
	resp := h.post(c, "/account/tokens", url.Values{"label": {label}})
	body := readAll(h.t, resp)
	m := regexp.MustCompile(`id="api-token">([^<]+)<`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		h.t.Fatalf("create a token: %d\n%s", resp.StatusCode, body)
	}
	return html.UnescapeString(m[1])
}

func loggedOut(resp *http.Response) bool {
	return resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login")
}

// Finding 2 of issue 17: after logout the old cookie opens nothing — not the
// account page, not a new token, not a signature — on this replica or another
// one sharing the Ops DB.
func TestLogoutEndsTheSessionOnEveryReplica(t *testing.T) {
	st := storetest.SQLite(t)
	h := newHarness(t, st)
	id := openCeremony(t, h, "logout")
	bob := h.client("bob@example.org")
	form := signValues(t, h, bob, id)
	stolen := h.cookieOf(bob)
	// A second replica: same secret, same Ops DB, its own process state.
	other, err := New(Config{BaseURL: "http://localhost:4000", SessionSecret: h.app.cfg.SessionSecret, DevLogin: true},
		Deps{Store: st, Ceremonies: h.fake, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	replica := httptest.NewServer(other)
	t.Cleanup(func() { other.Shutdown(); replica.Close() })
	onReplica := func(path string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, replica.URL+path, nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: stolen})
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := onReplica("/account"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the session does not work on the other replica before logout: %d", resp.StatusCode)
	}

	h.post(bob, "/logout", nil)
	replay := h.withCookie(stolen)
	if resp, _ := h.get(replay, "/account"); !loggedOut(resp) {
		t.Errorf("the old cookie still opens /account: %d", resp.StatusCode)
	}
	if resp := h.post(replay, "/account/tokens", url.Values{}); !loggedOut(resp) {
		t.Errorf("the old cookie still mints a token: %d", resp.StatusCode)
	}
	if resp := h.post(h.withCookie(stolen), "/ceremonies/"+id+"/review", form); !loggedOut(resp) {
		t.Errorf("the old cookie still reviews a signature: %d", resp.StatusCode)
	}
	if resp := onReplica("/account"); !loggedOut(resp) {
		t.Errorf("the old cookie still works on the other replica: %d", resp.StatusCode)
	}
	if n := h.fake.signCount(); n != 0 {
		t.Fatalf("%d signatures reached the workflow", n)
	}
	live, _ := st.LiveWebSessions(context.Background(), "bob@example.org", time.Now())
	if len(live) != 0 {
		t.Fatalf("sessions still live after logout: %+v", live)
	}
}

// A token is revoked on its own; the account page lists sessions and tokens
// with their last use and ends them; a session ended between the check and the
// signature gets no vouch.
func TestAccountEndsSessionsAndRevokesTokens(t *testing.T) {
	st := storetest.SQLite(t)
	h := newHarness(t, st)
	api := h.apiClient(t)
	bob, bobPhone := h.client("bob@example.org"), h.client("bob@example.org")
	tok1, tok2 := h.mintToken(bob, "release script"), h.mintToken(bob, "laptop")
	if !strings.HasPrefix(tok1, tokenPrefix) {
		t.Fatalf("token %q", tok1)
	}
	for _, tok := range []string{tok1, tok2} {
		if resp, _ := api("GET", "/api/v1/ceremonies", tok, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("a new token: %d", resp.StatusCode)
		}
	}
	_, page := h.get(bob, "/account")
	for _, want := range []string{`id="token-list"`, "release script", "laptop", `id="session-list"`, `id="this-session"`, "Log out everywhere else"} {
		if !strings.Contains(page, want) {
			t.Errorf("the account page lacks %q", want)
		}
	}
	rows := regexp.MustCompile(`(?s)<tr data-id="([0-9a-f]{64})">.*?</tr>`).FindAllStringSubmatch(page, -1)
	if len(rows) != 4 {
		t.Fatalf("want 2 sessions and 2 tokens listed, got %d rows", len(rows))
	}
	var tok1ID string
	for _, r := range rows {
		if strings.Contains(r[0], "release script") {
			tok1ID = r[1]
		}
	}
	// Revoke one token: it stops, the other goes on.
	if resp := h.post(bob, "/account/tokens/revoke", url.Values{"id": {tok1ID}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if resp, p := api("GET", "/api/v1/ceremonies", tok1, nil); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(p["detail"].(string), "revoked") {
		t.Errorf("a revoked token: %d %v", resp.StatusCode, p)
	}
	if resp, _ := api("GET", "/api/v1/ceremonies", tok2, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the other token stopped too: %d", resp.StatusCode)
	}
	// Someone else cannot revoke Bob's token.
	tok2ID := sessionRowID(mustParseToken(t, h, tok2).ID)
	if resp := h.post(h.client("carol@example.org"), "/account/tokens/revoke", url.Values{"id": {tok2ID}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("carol revoking bob's token: %d", resp.StatusCode)
	}
	if resp, _ := api("GET", "/api/v1/ceremonies", tok2, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("bob's token stopped after carol's try: %d", resp.StatusCode)
	}
	// Log out everywhere else: the phone's session ends, this one goes on.
	if resp := h.post(bob, "/account/sessions/end", url.Values{"others": {"1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("end others: %d", resp.StatusCode)
	}
	if resp, _ := h.get(bobPhone, "/account"); !loggedOut(resp) {
		t.Errorf("the other session still works: %d", resp.StatusCode)
	}
	if resp, _ := h.get(bob, "/account"); resp.StatusCode != http.StatusOK {
		t.Errorf("this session ended too: %d", resp.StatusCode)
	}
	// Last use is written at most once a minute.
	row, _ := st.GetWebSession(context.Background(), tok2ID)
	h.app.cfg.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	api("GET", "/api/v1/ceremonies", tok2, nil)
	api("GET", "/api/v1/ceremonies", tok2, nil)
	h.app.cfg.Now = time.Now
	after, _ := st.GetWebSession(context.Background(), tok2ID)
	if !after.LastUsedAt.After(row.LastUsedAt.Add(time.Minute)) {
		t.Errorf("last use not recorded: %s then %s", row.LastUsedAt, after.LastUsedAt)
	}

	// No vouch for a session that ended after the request was let in.
	me := &viewer{ID: "bob@example.org", Session: sessionRowID("never-issued")}
	err := h.app.vouch(context.WithValue(context.Background(), viewerKey, me), "web/x", nil)
	if err != errAccessEnded {
		t.Fatalf("vouch for an unknown session: %v", err)
	}
}

func mustParseToken(t *testing.T, h *harness, tok string) apiToken {
	t.Helper()
	at, ok := h.app.parseToken(tok)
	if !ok {
		t.Fatalf("token %q does not parse", tok)
	}
	return at
}

// Admins end a person's sessions and tokens through the API; a deactivated
// person's end with the deactivation, for good; tokens from before tokens had
// rows are refused with a word on what to do.
func TestAdminsAndDeactivationEndSessions(t *testing.T) {
	st := storetest.SQLite(t)
	h := newHarness(t, st)
	ctx := context.Background()
	if err := st.EnsureWitness(ctx, store.NewPerson{ID: "ada@example.org", DisplayName: "Ada", Roles: []string{"admin"}}, "test"); err != nil {
		t.Fatal(err)
	}
	api := h.apiClient(t)
	admin := h.token(t, "ada@example.org")
	bob := h.client("bob@example.org")
	bobTok := h.mintToken(bob, "script")

	if resp, _ := api("GET", "/api/v1/witnesses/bob@example.org/sessions", h.token(t, "carol@example.org"), nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a non-admin lists sessions: %d", resp.StatusCode)
	}
	resp, list := api("GET", "/api/v1/witnesses/bob@example.org/sessions", admin, nil)
	if items, _ := list["items"].([]any); resp.StatusCode != http.StatusOK || len(items) != 2 {
		t.Fatalf("list: %d %v", resp.StatusCode, list)
	}
	resp, ended := api("POST", "/api/v1/witnesses/bob@example.org/sessions/end", admin, nil)
	if resp.StatusCode != http.StatusOK || ended["ended"] != float64(2) {
		t.Fatalf("end: %d %v", resp.StatusCode, ended)
	}
	if resp, _ := h.get(bob, "/"); !loggedOut(resp) {
		t.Errorf("bob's session after an admin ended it: %d", resp.StatusCode)
	}
	if resp, _ := api("GET", "/api/v1/ceremonies", bobTok, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bob's token after an admin ended it: %d", resp.StatusCode)
	}

	// Deactivation ends them, with a word on why; reactivation does not
	// bring them back.
	carol := h.client("carol@example.org")
	carolTok := h.mintToken(carol, "script")
	if _, _, err := st.SetWitnessActive(ctx, "carol@example.org", false, "ada@example.org", "left"); err != nil {
		t.Fatal(err)
	}
	if resp, body := h.get(carol, "/"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Access withdrawn") {
		t.Errorf("a deactivated person's session: %d", resp.StatusCode)
	}
	if resp, p := api("GET", "/api/v1/ceremonies", carolTok, nil); resp.StatusCode != http.StatusForbidden || p["title"] != "deactivated" {
		t.Errorf("a deactivated person's token: %d %v", resp.StatusCode, p)
	}
	if _, _, err := st.SetWitnessActive(ctx, "carol@example.org", true, "ada@example.org", "back"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := api("GET", "/api/v1/ceremonies", carolTok, nil); resp.StatusCode == http.StatusOK {
		t.Error("a token came back with the reactivation")
	}

	// A gh1 token (no row) is refused and says what to do.
	old := oldTokenPrefix + strings.TrimPrefix(bobTok, tokenPrefix)
	if resp, p := api("GET", "/api/v1/ceremonies", old, nil); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(p["detail"].(string), "Create a new one") {
		t.Errorf("an old token: %d %v", resp.StatusCode, p)
	}
}

// addKey registers priv for the client's witness through the account page:
// challenge, proof, submit.
func addKey(t *testing.T, h *harness, c *http.Client, priv ed25519.PrivateKey, label string) {
	t.Helper()
	resp := h.post(c, "/account/keys/challenge", url.Values{})
	body := readAll(t, resp)
	m := regexp.MustCompile(`guildhall prove-key --key YOUR-KEY-FILE (ghc1\.[A-Za-z0-9_-]+)`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("key challenge: %d\n%s", resp.StatusCode, body)
	}
	ch, err := statement.ParseKeyChallenge(m[1])
	if err != nil {
		t.Fatal(err)
	}
	proof := statement.ProvePossession(ch, priv).String()
	if resp := h.post(c, "/account/keys", url.Values{"proof": {proof}, "label": {label}, "challenge": {m[1]}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add key: %d %s", resp.StatusCode, readAll(t, resp))
	}
}

// Finding 3 of issue 17: the account page registers an ed25519 key only with
// a proof of possession, and never one another person holds.
func TestAccountKeyNeedsProofOfPossession(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	bob, carol := h.client("bob@example.org"), h.client("carol@example.org")
	bobPub, bobPriv, _ := ed25519.GenerateKey(rand.Reader)
	// A bare public key, as the form took it before: refused.
	resp := h.post(carol, "/account/keys", url.Values{"public_key": {statement.NewPublicKey("", bobPub).PublicKey}})
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "prove-key") {
		t.Fatalf("a bare public key: %d", resp.StatusCode)
	}
	addKey(t, h, bob, bobPriv, "laptop")
	// Carol copies Bob's public key into a proof of her own: the signature is
	// not the key's.
	resp = h.post(carol, "/account/keys/challenge", url.Values{})
	chText := regexp.MustCompile(`(ghc1\.[A-Za-z0-9_-]+)`).FindString(readAll(t, resp))
	ch, _ := statement.ParseKeyChallenge(chText)
	_, carolPriv, _ := ed25519.GenerateKey(rand.Reader)
	forged := statement.ProvePossession(ch, carolPriv)
	forged.Statement.PublicKey, forged.Statement.KeyID = statement.NewPublicKey("", bobPub).PublicKey, statement.KeyID(bobPub)
	resp = h.post(carol, "/account/keys", url.Values{"proof": {forged.String()}})
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "not made by the key") {
		t.Fatalf("a forged proof: %d", resp.StatusCode)
	}
	// Bob's own proof, replayed by Carol: made for Bob.
	resp = h.post(bob, "/account/keys/challenge", url.Values{})
	bobCh, _ := statement.ParseKeyChallenge(regexp.MustCompile(`(ghc1\.[A-Za-z0-9_-]+)`).FindString(readAll(t, resp)))
	resp = h.post(carol, "/account/keys", url.Values{"proof": {statement.ProvePossession(bobCh, bobPriv).String()}})
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "made for bob@example.org") {
		t.Fatalf("bob's proof used by carol: %d", resp.StatusCode)
	}
	// Bob's key signing Carol's challenge (Bob tricked into it): still Bob's key.
	resp = h.post(carol, "/account/keys", url.Values{"proof": {statement.ProvePossession(ch, bobPriv).String()}})
	if body := readAll(t, resp); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "registered to another person") {
		t.Fatalf("another person's key: %d", resp.StatusCode)
	}
	w, _ := h.st.GetWitness(context.Background(), "carol@example.org")
	if len(w.Credentials) != 0 {
		t.Fatalf("carol holds keys: %+v", w.Credentials)
	}
}

// Finding 5 of issue 17: reading needs a role. Someone the directory knows
// without a role, and their token, get a page or a problem that says why and
// whom to ask; the reader role is enough.
func TestReadingNeedsARole(t *testing.T) {
	st := storetest.SQLite(t)
	h := newHarness(t, st)
	ctx := context.Background()
	id := openCeremony(t, h, "secret")
	for _, p := range []store.NewPerson{{ID: "ada@example.org", DisplayName: "Ada Admin", Roles: []string{"admin"}},
		{ID: "nemo@example.org", DisplayName: "Nemo"}, {ID: "rita@example.org", DisplayName: "Rita", Roles: []string{"reader"}}} {
		if err := st.EnsureWitness(ctx, p, "test"); err != nil {
			t.Fatal(err)
		}
	}
	api := h.apiClient(t)
	nemo, rita := h.client("nemo@example.org"), h.client("rita@example.org")
	for _, path := range []string{"/", "/ceremonies", "/ceremonies/" + id, "/chronicle?all=1", "/artifacts", "/posture", "/events", "/account"} {
		resp, body := h.get(nemo, path)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "hold no role") || !strings.Contains(body, "Ada Admin") {
			t.Errorf("%s without a role: %d", path, resp.StatusCode)
		}
		if strings.Contains(body, "Release app") {
			t.Errorf("%s without a role shows the ceremony", path)
		}
		if path == "/events" {
			continue // a stream: it answers 200 and goes on
		}
		if resp, _ := h.get(rita, path); resp.StatusCode != http.StatusOK {
			t.Errorf("%s as a reader: %d", path, resp.StatusCode)
		}
	}
	tok := h.token(t, "nemo@example.org")
	for _, path := range []string{"/api/v1/ceremonies", "/api/v1/ceremonies/" + id, "/api/v1/ceremonies/" + id + "/statement?decision=approve"} {
		resp, p := api("GET", path, tok, nil)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Content-Type") != "application/problem+json" || p["title"] != "no role" {
			t.Errorf("API %s without a role: %d %v", path, resp.StatusCode, p)
		}
	}
	if resp, _ := api("GET", "/api/v1/ceremonies/"+id, h.token(t, "rita@example.org"), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("API as a reader: %d", resp.StatusCode)
	}
	// Logging out still works.
	if resp := h.post(nemo, "/logout", nil); resp.Header.Get("Location") != "/login?bye=1" {
		t.Errorf("logout without a role: %d", resp.StatusCode)
	}
}

// The session secret alone lets nobody in: a cookie or token signed with it
// must name a live row in the Ops DB (SECURITY.md, an attacker with the web's
// session secret).
func TestSessionSecretAloneOpensNothing(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	codec := newCookieCodec(h.app.cfg.SessionSecret)
	secret, _ := newSecretID() // never recorded
	cookie, err := codec.encode(sessionCookie, session{WitnessID: "bob@example.org", Via: "oidc", Expires: time.Now().Add(time.Hour).Unix(), ID: secret})
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := h.get(h.withCookie(cookie), "/account"); !loggedOut(resp) {
		t.Errorf("a forged cookie with the right secret: %d", resp.StatusCode)
	}
	tok, err := codec.token("bob@example.org", secret, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := h.apiClient(t)("GET", "/api/v1/ceremonies", tok, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a forged token with the right secret: %d", resp.StatusCode)
	}
	// Nor does a real session's row read from the Ops DB: it holds a hash.
	bob := h.client("bob@example.org")
	live, _ := h.st.LiveWebSessions(context.Background(), "bob@example.org", time.Now())
	if len(live) != 1 {
		t.Fatalf("live sessions: %+v", live)
	}
	stolen, _ := codec.encode(sessionCookie, session{WitnessID: "bob@example.org", Via: "dev", Expires: time.Now().Add(time.Hour).Unix(), ID: live[0].ID})
	if resp, _ := h.get(h.withCookie(stolen), "/account"); !loggedOut(resp) {
		t.Errorf("a cookie made from the row id: %d", resp.StatusCode)
	}
	if resp, _ := h.get(bob, "/account"); resp.StatusCode != http.StatusOK {
		t.Errorf("the real session: %d", resp.StatusCode)
	}
}
