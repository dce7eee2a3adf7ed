package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

func seedWitnesses(t testing.TB, st *store.Store) {
	t.Helper()
	for _, w := range []store.Witness{
		{ID: "alice@example.org", DisplayName: "Alice", Roles: []string{"security"}},
		{ID: "bob@example.org", DisplayName: "Bob", Roles: []string{"release"}},
		{ID: "carol@example.org", DisplayName: "Carol", Roles: []string{"release", "security"}},
		{ID: "ivy@example.org", DisplayName: "Ivy", Roles: []string{"release"}},
	} {
		if err := st.EnsureWitness(context.Background(), store.NewPerson{ID: w.ID, DisplayName: w.DisplayName, Email: w.Email, Roles: w.Roles}, "test"); err != nil {
			t.Fatal(err)
		}
	}
}

// releaseTemplate is the template the web tests open ceremonies from: Bob
// (release) and Carol (security) witness, threshold approvals; Ivy may open it.
func releaseTemplate(threshold int) rules.Template {
	return rules.Template{Name: "release", Kind: contract.KindRelease,
		Witnesses: rules.TemplateWitnesses{People: []contract.WitnessRef{{ID: "bob@example.org", Role: "release"}, {ID: "carol@example.org", Role: "security"}}},
		Quorum:    contract.Quorum{Threshold: threshold},
		OpenedBy:  []string{"ivy@example.org"}}
}

type harness struct {
	t    *testing.T
	st   *store.Store
	fake *fakeCeremonies
	app  *App
	srv  *httptest.Server
}

func newHarness(t *testing.T, st *store.Store) *harness {
	t.Helper()
	return newHarnessWith(t, st, Deps{})
}

// newHarnessWith is newHarness with more of the app's dependencies (its store,
// ceremonies and logger are the harness's).
func newHarnessWith(t *testing.T, st *store.Store, deps Deps) *harness {
	t.Helper()
	seedWitnesses(t, st)
	if _, _, err := st.ApplyTemplate(context.Background(), releaseTemplate(2), "test"); err != nil {
		t.Fatal(err)
	}
	return startHarnessWith(t, st, deps)
}

// startHarness serves the app on st as it is.
func startHarness(t *testing.T, st *store.Store) *harness {
	t.Helper()
	return startHarnessWith(t, st, Deps{})
}

func startHarnessWith(t *testing.T, st *store.Store, deps Deps) *harness {
	t.Helper()
	fake := newFake(st)
	deps.Store, deps.Ceremonies, deps.Logger = st, fake, slog.New(slog.NewTextHandler(io.Discard, nil))
	app, err := New(Config{BaseURL: "http://localhost:4000", SessionSecret: []byte(strings.Repeat("s", 32)), DevLogin: true}, deps)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app)
	t.Cleanup(func() { app.Shutdown(); srv.Close() })
	return &harness{t: t, st: st, fake: fake, app: app, srv: srv}
}

// client returns an HTTP client logged in (dev login) as witness, which does not
// follow redirects so tests can see them.
func (h *harness) client(witness string) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if witness != "" {
		resp := h.post(c, "/login/dev", url.Values{"witness": {witness}})
		if resp.StatusCode != http.StatusSeeOther {
			h.t.Fatalf("dev login as %s: %d", witness, resp.StatusCode)
		}
	}
	return c
}

func (h *harness) post(c *http.Client, path string, form url.Values) *http.Response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

func (h *harness) get(c *http.Client, path string) (*http.Response, string) {
	h.t.Helper()
	resp, err := c.Get(h.srv.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestSmokePages(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	alice := h.client("alice@example.org")
	for _, p := range []string{"/", "/ceremonies", "/ceremonies/new", "/login"} {
		resp, body := h.get(alice, p)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d\n%s", p, resp.StatusCode, body)
		}
	}
	resp, body := h.get(alice, "/health")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("health: %d %q", resp.StatusCode, body)
	}
}

const testDigest = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func composeValues(name string) url.Values {
	return url.Values{
		"template": {"release"}, "version": {"1"}, "name": {name}, "title": {"Release app"}, "artifact_name": {"app"}, "digest": {testDigest},
		"deadline": {time.Now().UTC().Add(48 * time.Hour).Format("2006-01-02T15:04")},
	}
}

func signValues(t *testing.T, h *harness, c *http.Client, id string) url.Values {
	t.Helper()
	_, body := h.get(c, "/ceremonies/"+id)
	i := strings.Index(body, `name="key" value="`)
	if i < 0 {
		t.Fatalf("no sign form on %s:\n%s", id, body)
	}
	key := body[i+len(`name="key" value="`):][:32]
	return url.Values{"key": {key}, "decision": {"approve"}, "comment": {"ok"}}
}

func TestSmokeOpenAndSign(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	ivy, bob, carol := h.client("ivy@example.org"), h.client("bob@example.org"), h.client("carol@example.org")
	resp := h.post(ivy, "/ceremonies/new", composeValues("rel-1"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ceremonies/web/rel-1?opened=1" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("compose: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), b)
	}
	// The initiator sees that it opened, and who is asked to sign.
	if _, page := h.get(ivy, resp.Header.Get("Location")); !strings.Contains(page, "Ceremony opened. Bob and Carol are asked to sign by ") {
		t.Error("no confirmation after opening the ceremony")
	}
	for _, c := range []*http.Client{bob, carol} {
		if resp := h.signSession(c, "web/rel-1", "approve", "ok"); resp.StatusCode != http.StatusSeeOther {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("sign: %d\n%s", resp.StatusCode, b)
		}
	}
	_, body := h.get(ivy, "/ceremonies/web/rel-1")
	if !strings.Contains(body, "quorum reached") {
		t.Fatalf("no quorum on page:\n%s", body)
	}
	_, body = h.get(ivy, "/ceremonies")
	if !strings.Contains(body, "web/rel-1") {
		t.Fatalf("list misses the ceremony")
	}
}

// between returns the text after prefix up to the next quote.
func between(body, prefix string) string {
	i := strings.Index(body, prefix)
	if i < 0 {
		return ""
	}
	rest := body[i+len(prefix):]
	return rest[:strings.IndexByte(rest, '"')]
}

// review posts the sign form and returns the review page.
func (h *harness) review(c *http.Client, id, decision, comment string) (*http.Response, string) {
	h.t.Helper()
	form := signValues(h.t, h, c, id)
	form.Set("decision", decision)
	form.Set("comment", comment)
	resp := h.post(c, "/ceremonies/"+id+"/review", form)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signSession reviews and confirms a session-authenticated signature.
func (h *harness) signSession(c *http.Client, id, decision, comment string) *http.Response {
	h.t.Helper()
	resp, body := h.review(c, id, decision, comment)
	if resp.StatusCode != 200 {
		h.t.Fatalf("review %s: %d\n%s", id, resp.StatusCode, body)
	}
	ticket := between(body, `name="ticket" value="`)
	if ticket == "" {
		h.t.Fatalf("no confirm form on the review page:\n%s", body)
	}
	return h.post(c, "/ceremonies/"+id+"/sign", url.Values{"ticket": {ticket}})
}

// template applies a template like releaseTemplate under another name, with
// its policy changed by edit, and returns composer values for it.
func (h *harness) template(name string, edit func(*rules.Template), ceremony string) url.Values {
	h.t.Helper()
	t := releaseTemplate(2)
	t.Name = name
	edit(&t)
	v, _, err := h.st.ApplyTemplate(context.Background(), t, "test")
	if err != nil {
		h.t.Fatal(err)
	}
	form := composeValues(ceremony)
	form.Set("template", name)
	form.Set("version", strconv.Itoa(v))
	return form
}
