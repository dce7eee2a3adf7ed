package web

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

func openCeremony(t *testing.T, h *harness, name string) string {
	t.Helper()
	resp := h.post(h.client("ivy@example.org"), "/ceremonies/new", composeValues(name))
	if resp.StatusCode != http.StatusSeeOther {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("compose %s: %d\n%s", name, resp.StatusCode, b)
	}
	return "web/" + name
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestHealth(t *testing.T) {
	st := storetest.SQLite(t)
	h := newHarness(t, st)
	resp, body := h.get(http.DefaultClient, "/health")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("healthy: %d %q", resp.StatusCode, body)
	}
	_ = st.Close() // the database goes away
	resp, body = h.get(http.DefaultClient, "/health")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(body, "degraded: database unavailable: ") {
		t.Fatalf("degraded: %d %q", resp.StatusCode, body)
	}
	if strings.Contains(body, "goroutine") || strings.Contains(body, ".go:") {
		t.Fatalf("health leaks internals: %q", body)
	}
}

func TestSecurityHeadersAndNoInlineScript(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	alice := h.client("alice@example.org")
	id := openCeremony(t, h, "hdr")
	for _, p := range []string{"/", "/ceremonies", "/ceremonies/new", "/" + "ceremonies/" + id, "/artifacts", "/chronicle", "/posture", "/account", "/login"} {
		resp, body := h.get(alice, p)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP allows inline code", p)
		}
		for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", p, h, got, want)
			}
		}
		if resp.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS sent on plain http", p)
		}
		if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(body) || regexp.MustCompile(`<script>`).MatchString(body) {
			t.Errorf("%s: inline script in page", p)
		}
		if regexp.MustCompile(`\sstyle="`).MatchString(body) || strings.Contains(body, " onclick=") {
			t.Errorf("%s: inline style or handler in page", p)
		}
	}
}

func TestHSTSBehindTLS(t *testing.T) {
	st := storetest.SQLite(t)
	app, err := New(Config{BaseURL: "https://guildhall.example.org", SessionSecret: []byte(strings.Repeat("k", 32))},
		Deps{Store: st, Ceremonies: newFake(st), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	app.ServeHTTP(rec, mustReq(http.MethodGet, "/login", nil))
	if !strings.Contains(rec.Header().Get("Strict-Transport-Security"), "max-age=") {
		t.Fatal("no HSTS with an https base URL")
	}
}

func TestDevLoginOnlyOnLoopback(t *testing.T) {
	st := storetest.SQLite(t)
	deps := Deps{Store: st, Ceremonies: newFake(st)}
	secret := []byte(strings.Repeat("k", 32))
	for _, base := range []string{"https://guildhall.example.org", "http://10.0.0.5:4000", "http://0.0.0.0:4000"} {
		if _, err := New(Config{BaseURL: base, SessionSecret: secret, DevLogin: true}, deps); err == nil {
			t.Errorf("dev login accepted on %s", base)
		}
	}
	for _, base := range []string{"http://localhost:4000", "http://127.0.0.1:4000", "http://[::1]:4000"} {
		if _, err := New(Config{BaseURL: base, SessionSecret: secret, DevLogin: true}, deps); err != nil {
			t.Errorf("dev login refused on %s: %v", base, err)
		}
	}
	if _, err := New(Config{BaseURL: "http://localhost:4000", SessionSecret: []byte("short")}, deps); err == nil {
		t.Error("short session secret accepted")
	}
	// Without DevLogin the form does not exist.
	app, _ := New(Config{BaseURL: "http://localhost:4000", SessionSecret: secret}, deps)
	rec := newRecorder()
	req := mustReq(http.MethodPost, "/login/dev", strings.NewReader("witness=alice%40example.org"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	app.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("dev login without DevLogin: %d, cookies %v", rec.Code, rec.Result().Cookies())
	}
}

func TestSessionCookie(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	c := h.client("")
	resp := h.post(c, "/login/dev", url.Values{"witness": {"alice@example.org"}})
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Secure {
		t.Fatalf("session cookie = %+v (want HttpOnly, Lax, not Secure on http)", sess)
	}
	// A tampered cookie is not a session.
	u, _ := url.Parse(h.srv.URL)
	forged := *sess
	payload, sig, _ := strings.Cut(sess.Value, ".")
	b, _ := base64.RawURLEncoding.DecodeString(payload)
	b = []byte(strings.Replace(string(b), "alice@example.org", "carol@example.org", 1))
	forged.Value = base64.RawURLEncoding.EncodeToString(b) + "." + sig
	c.Jar.SetCookies(u, []*http.Cookie{&forged})
	resp, _ = h.get(c, "/ceremonies")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("forged cookie accepted: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Logout ends the session.
	alice := h.client("alice@example.org")
	h.post(alice, "/logout", nil)
	resp, _ = h.get(alice, "/")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("still logged in after logout: %d", resp.StatusCode)
	}
}

func TestLoginRequiredAndNextKeptOnSite(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	anon := h.client("")
	resp, _ := h.get(anon, "/ceremonies?status=sealed")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fceremonies%3Fstatus%3Dsealed" {
		t.Fatalf("anonymous: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	for next, want := range map[string]string{"/ceremonies": "/ceremonies", "//evil.example": "/", "https://evil.example": "/", "/\\evil": "/"} {
		resp := h.post(h.client(""), "/login/dev", url.Values{"witness": {"alice@example.org"}, "next": {next}})
		if got := resp.Header.Get("Location"); got != want {
			t.Errorf("next=%q redirected to %q, want %q", next, got, want)
		}
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "csrf")
	bob := h.client("bob@example.org")
	form := signValues(t, h, bob, id)
	for name, hdr := range map[string][2]string{
		"sec-fetch-site cross-site": {"Sec-Fetch-Site", "cross-site"},
		"foreign origin":            {"Origin", "http://evil.example"},
	} {
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/ceremonies/"+id+"/review", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(hdr[0], hdr[1])
		resp, err := bob.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "came from another site") {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
	if n := h.fake.signCount(); n != 0 {
		t.Fatalf("%d sign updates reached the workflow", n)
	}
}

func TestOnlyWitnessesSign(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "authz")
	// alice is registered but not a witness of this ceremony; ivy is its initiator.
	for _, who := range []string{"alice@example.org", "ivy@example.org"} {
		c := h.client(who)
		_, page := h.get(c, "/ceremonies/"+id)
		if strings.Contains(page, `id="sign-form"`) {
			t.Errorf("%s sees the sign form", who)
		}
		// A forged review and a forged confirm are both refused.
		resp := h.post(c, "/ceremonies/"+id+"/review", url.Values{"decision": {"approve"}, "key": {randomHex(16)}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s review: %d", who, resp.StatusCode)
		}
		// A ticket minted for someone else does not help either.
		tok, _ := h.app.cookies.encode(ticketName, signTicket{CeremonyID: id, WitnessID: "bob@example.org", Decision: contract.Approve,
			Key: randomHex(16), Statement: statement.Build(mustState(t, h, id).Spec, "bob@example.org", contract.Approve, "", time.Now()).String(),
			Expires: time.Now().Add(time.Minute).Unix()})
		resp = h.post(c, "/ceremonies/"+id+"/sign", url.Values{"ticket": {tok}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s confirm: %d", who, resp.StatusCode)
		}
		resp = h.post(c, "/ceremonies/"+id+"/sign/passkey", nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s passkey: %d", who, resp.StatusCode)
		}
	}
	if n := h.fake.signCount(); n != 0 {
		t.Fatalf("%d sign updates reached the workflow from non-witnesses", n)
	}
	// Bob may not use a ticket minted for carol.
	bob := h.client("bob@example.org")
	tok, _ := h.app.cookies.encode(ticketName, signTicket{CeremonyID: id, WitnessID: "carol@example.org", Decision: contract.Approve,
		Key: randomHex(16), Statement: statement.Build(mustState(t, h, id).Spec, "carol@example.org", contract.Approve, "", time.Now()).String(),
		Expires: time.Now().Add(time.Minute).Unix()})
	resp := h.post(bob, "/ceremonies/"+id+"/sign", url.Values{"ticket": {tok}})
	if body := readAll(t, resp); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "belongs to someone else") {
		t.Fatalf("bob with carol's ticket: %d", resp.StatusCode)
	}
	if n := h.fake.signCount(); n != 0 {
		t.Fatalf("%d sign updates reached the workflow", n)
	}
}

func mustState(t *testing.T, h *harness, id string) contract.State {
	t.Helper()
	st, err := h.fake.Status(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestReviewShowsStatementAndSessionSignCarriesNone(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "review")
	bob := h.client("bob@example.org")
	resp, body := h.review(bob, id, "reject", "not yet tested")
	if resp.StatusCode != 200 {
		t.Fatalf("review: %d", resp.StatusCode)
	}
	st := statement.Build(mustState(t, h, id).Spec, "bob@example.org", contract.Reject, "", time.Now())
	for _, want := range []string{"reject the release ceremony " + id, st.PolicyHash, "not yet tested", testDigest} {
		if !strings.Contains(body, want) {
			t.Errorf("review page lacks %q", want)
		}
	}
	digest := regexp.MustCompile(`id="statement-digest">([0-9a-f]{64})<`).FindStringSubmatch(body)
	exact := regexp.MustCompile(`(?s)id="statement-canonical">(.*?)</pre>`).FindStringSubmatch(body)
	js := regexp.MustCompile(`(?s)id="statement-json">(.*?)</pre>`).FindStringSubmatch(body)
	if digest == nil || exact == nil || js == nil {
		t.Fatal("no statement digest, exact bytes or readable JSON on the review page")
	}
	parsed, err := statement.Parse([]byte(htmlUnescape(exact[1])))
	if err != nil || parsed.Digest() != digest[1] || parsed.Decision != contract.Reject {
		t.Fatalf("shown statement %q does not parse to the shown digest: %v", exact[1], err)
	}
	// The readable JSON is the same statement, one member per line.
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(htmlUnescape(js[1]))); err != nil || compact.String() != htmlUnescape(exact[1]) ||
		strings.Count(js[1], "\n") < 8 {
		t.Fatalf("readable statement %q is not the exact one %q, indented (%v)", js[1], exact[1], err)
	}
	// The page names the ceremony and puts the decision first.
	if !strings.Contains(body, `<a href="/ceremonies/`+id+`">Release app</a>`) || !regexp.MustCompile(`id="review-decision">\s*You <strong>reject</strong>`).MatchString(body) {
		t.Error("the review page lacks the ceremony's title or the emphasised decision")
	}
	if resp := h.post(bob, "/ceremonies/"+id+"/sign", url.Values{"ticket": {between(body, `name="ticket" value="`)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm: %d %s", resp.StatusCode, readAll(t, resp))
	}
	req := h.fake.lastReq
	if req.Statement != "" || req.Proof != nil || req.Decision != contract.Reject || req.Comment != "not yet tested" || req.Via != "web" ||
		!strings.HasPrefix(req.IdempotencyKey, "web:bob@example.org:") {
		t.Fatalf("sign request = %+v", req)
	}
}

func TestStatementChangedSinceReviewIsRefused(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "amended")
	bob := h.client("bob@example.org")
	_, body := h.review(bob, id, "approve", "")
	h.fake.mutate(id, func(s *contract.State) {
		s.Spec.Witnesses = append(s.Spec.Witnesses, contract.WitnessRef{ID: "alice@example.org", Role: "security"})
	})
	resp := h.post(bob, "/ceremonies/"+id+"/sign", url.Values{"ticket": {between(body, `name="ticket" value="`)}})
	if page := readAll(t, resp); resp.StatusCode != http.StatusConflict || !strings.Contains(page, "changed since you reviewed it") {
		t.Fatalf("stale statement: %d", resp.StatusCode)
	}
	if h.fake.signCount() != 0 {
		t.Fatal("a stale statement reached the workflow")
	}
}

func TestWorkflowRejectionIsShown(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "rej")
	h.fake.rejectWith = &contract.Rejection{Code: "closed", Reason: "the ceremony is expired and no longer accepts signatures"}
	resp := h.signSession(h.client("bob@example.org"), id, "approve", "")
	page := readAll(t, resp)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(page, "Your signature was not accepted: the ceremony is expired and no longer accepts signatures") {
		t.Fatalf("rejection: %d\n%s", resp.StatusCode, page)
	}
}

func TestComposerValidation(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	ivy := h.client("ivy@example.org")
	bad := composeValues("Bad Name!")
	bad.Set("digest", "sha256:XYZ")
	bad.Set("deadline", "2001-01-01T00:00")
	bad.Set("artifact_name", "")
	bad.Set("title", "")
	resp := h.post(ivy, "/ceremonies/new", bad)
	page := readAll(t, resp)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("invalid form: %d", resp.StatusCode)
	}
	// Errors are tied to their fields for assistive technology, and the summary
	// at the top (which takes the focus) links to each field.
	for _, f := range []string{"name", "digest", "deadline", "artifact_name", "title"} {
		tag := regexp.MustCompile(`<(input|select)[^>]* id="` + f + `"[^>]*>`).FindString(page)
		if !strings.Contains(tag, `aria-invalid="true"`) || !strings.Contains(tag, `aria-describedby="err-`+f+`"`) || !strings.Contains(page, `id="err-`+f+`"`) {
			t.Errorf("field %s is not marked invalid and tied to its error", f)
		}
		if !strings.Contains(page, `<li><a href="#`+f+`">`) {
			t.Errorf("the error summary does not link to %s", f)
		}
	}
	if !regexp.MustCompile(`id="error-summary" tabindex="-1" autofocus`).MatchString(page) {
		t.Error("the error summary does not take the focus")
	}
	if !strings.Contains(page, `value="sha256:XYZ"`) {
		t.Error("the form was not shown back as typed")
	}
	// A name in use is a field error, not a crash.
	openCeremony(t, h, "taken")
	resp = h.post(ivy, "/ceremonies/new", composeValues("taken"))
	if page := readAll(t, resp); resp.StatusCode != http.StatusConflict || !strings.Contains(page, "exists already") {
		t.Fatalf("duplicate name: %d", resp.StatusCode)
	}
	// Without a name, the id says what the ceremony is (operators see ids first).
	titled := composeValues("")
	titled.Set("title", "Release App v2.0 to Production!")
	resp = h.post(ivy, "/ceremonies/new", titled)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther ||
		!regexp.MustCompile(`^/ceremonies/web/release-app-v2-0-to-production-[0-9a-f]{6}\?opened=1$`).MatchString(loc) {
		t.Errorf("ceremony opened without a name went to %d %q", resp.StatusCode, loc)
	}
}

// The template decides the witnesses and the policy: the spec records it and
// its version, and its witnesses are the directory's people with its roles now.
func TestComposerFromTemplate(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	ivy, bob := h.client("ivy@example.org"), h.client("bob@example.org")
	_, picker := h.get(ivy, "/ceremonies/new")
	if !strings.Contains(picker, `id="template-release"`) {
		t.Fatalf("the picker does not offer the release template:\n%s", picker)
	}
	_, form := h.get(ivy, "/ceremonies/new?template=release")
	if !strings.Contains(htmlUnescape(form), "Needs 2 approvals from Bob (release) and Carol (security)") {
		t.Errorf("the form does not show the resolved policy:\n%s", form)
	}
	// Where the witnesses come from, in the words the admin pages use.
	if want := "Witnesses are " + templateWitnessWords(releaseTemplate(2)) + "; you, who open it, never count."; !strings.Contains(htmlUnescape(form), want) ||
		!strings.Contains(want, "bob@example.org (release) and carol@example.org (security)") {
		t.Errorf("the form does not say where the witnesses come from (%q):\n%s", want, form)
	}
	if resp := h.post(ivy, "/ceremonies/new", composeValues("from-template")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("valid form: %d %s", resp.StatusCode, readAll(t, resp))
	}
	spec := mustState(t, h, "web/from-template").Spec
	if spec.Template == nil || spec.Template.Name != "release" || spec.Template.Version != 1 || spec.Initiator != "ivy@example.org" ||
		spec.Source != "web" || spec.Quorum.Threshold != 2 || len(spec.Witnesses) != 2 {
		t.Fatalf("spec = %+v", spec)
	}
	// Bob may not open from it (it lets initiators open), on the page and by post.
	if resp, page := h.get(bob, "/ceremonies/new?template=release"); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "you are not one of them") {
		t.Errorf("bob on the form: %d", resp.StatusCode)
	}
	if resp := h.post(bob, "/ceremonies/new", composeValues("by-bob")); resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob's post: %d", resp.StatusCode)
	}
	if _, err := h.st.GetCeremony(context.Background(), "web/by-bob"); err == nil {
		t.Error("a refused post opened a ceremony")
	}
	// The template changed while the form was open: what was shown is not what
	// would open, so it is shown again.
	if _, _, err := h.st.ApplyTemplate(context.Background(), releaseTemplate(3), "test"); err != nil {
		t.Fatal(err)
	}
	resp, page := h.post(ivy, "/ceremonies/new", composeValues("stale")), ""
	if page = readAll(t, resp); resp.StatusCode != http.StatusConflict || !strings.Contains(page, "now version 2") {
		t.Errorf("stale form: %d", resp.StatusCode)
	}
	// A policy the directory cannot meet now is said at the top.
	if _, _, err := h.st.ApplyTemplate(context.Background(), releaseTemplate(9), "test"); err != nil {
		t.Fatal(err)
	}
	stale := composeValues("impossible")
	stale.Set("version", "3")
	resp = h.post(ivy, "/ceremonies/new", stale)
	if page = readAll(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(htmlUnescape(page), "the policy cannot be met: 9 approvals needed, at most 2 reachable") {
		t.Errorf("impossible policy: %d\n%s", resp.StatusCode, page)
	}
}

func TestRequestSizeLimit(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	ivy := h.client("ivy@example.org")
	big := composeValues("big")
	big.Set("description", strings.Repeat("x", 200<<10))
	resp := h.post(ivy, "/ceremonies/new", big)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized form: %d", resp.StatusCode)
	}
}

func TestLoginRateLimit(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	var last int
	for range loginLimit.n + 1 {
		last = h.post(h.client(""), "/login/dev", url.Values{"witness": {"nobody"}}).StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("after %d attempts: %d", loginLimit.n+1, last)
	}
}

func TestSignRateLimit(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "flood")
	bob := h.client("bob@example.org")
	var last int
	for range signLimit.n + 1 {
		last = h.post(bob, "/ceremonies/"+id+"/review", url.Values{"decision": {"maybe"}}).StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("after %d sign attempts: %d", signLimit.n+1, last)
	}
	// The page and the API share the one per-person budget.
	resp, p := h.apiClient(t)("POST", "/api/v1/ceremonies/"+id+"/sign", h.token(t, "bob@example.org"), map[string]string{"decision": "maybe"})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("an API signature after the page's limit: %d %v", resp.StatusCode, p)
	}
}

func TestAssetsAreHashedAndImmutable(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	_, page := h.get(h.client(""), "/login")
	m := regexp.MustCompile(`href="(/static/app\.[0-9a-f]{10}\.css)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no hashed stylesheet link")
	}
	resp, _ := h.get(http.DefaultClient, m[1])
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("asset: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := h.get(http.DefaultClient, "/static/app.css"); resp.StatusCode != 404 {
		t.Fatalf("unhashed asset name served: %d", resp.StatusCode)
	}
}

// Browsers ask for /favicon.ico on their own; pages link the SVG icon.
func TestFavicon(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	resp, body := h.get(http.DefaultClient, "/favicon.ico")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/x-icon" || !strings.HasPrefix(body, "\x00\x00\x01\x00") {
		t.Fatalf("favicon.ico: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	_, page := h.get(h.client(""), "/login")
	if !regexp.MustCompile(`<link rel="icon" href="/static/favicon\.[0-9a-f]{10}\.svg" type="image/svg\+xml">`).MatchString(page) {
		t.Error("pages do not link the icon")
	}
}

// Logging out ends the session and says so.
func TestLogoutSaysSo(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	bob := h.client("bob@example.org")
	resp := h.post(bob, "/logout", url.Values{})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?bye=1" {
		t.Fatalf("logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, page := h.get(bob, "/login?bye=1"); !strings.Contains(page, "You have logged out.") {
		t.Error("the login page does not say the viewer logged out")
	}
	if resp, _ := h.get(bob, "/"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("still logged in after logout: %d", resp.StatusCode)
	}
}

func TestMetricsByRoutePattern(t *testing.T) {
	st := storetest.SQLite(t)
	seedWitnesses(t, st)
	m := NewMetrics()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	app, err := New(Config{BaseURL: "http://localhost:4000", SessionSecret: []byte(strings.Repeat("s", 32)), DevLogin: true},
		Deps{Store: st, Ceremonies: newFake(st), Metrics: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/health", "/ceremonies/web/a", "/ceremonies/web/b", "/nope"} {
		app.ServeHTTP(newRecorder(), mustReq(http.MethodGet, p, nil))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]uint64{}
	for _, mf := range mfs {
		for _, mm := range mf.GetMetric() {
			for _, l := range mm.GetLabel() {
				if l.GetName() == "route" {
					routes[l.GetValue()] += mm.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	if routes["/ceremonies/{ns}/{name}"] != 2 || routes["/health"] != 1 || routes["unmatched"] != 1 {
		t.Fatalf("routes = %v", routes)
	}
}

func TestErrorPagesArePlain(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	alice := h.client("alice@example.org")
	for p, code := range map[string]int{"/ceremonies/web/missing": 404, "/nowhere": 404, "/artifacts/sha256:00": 404, "/ceremonies/UPPER/x": 404} {
		resp, body := h.get(alice, p)
		if resp.StatusCode != code || !strings.Contains(body, "Back to the dashboard") {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	// A panic becomes a plain 500 page.
	h.app.store = panicStore{h.app.store}
	resp, body := h.get(alice, "/ceremonies")
	if resp.StatusCode != 500 || strings.Contains(body, "goroutine") || strings.Contains(body, "panic") {
		t.Fatalf("panic page: %d\n%s", resp.StatusCode, body)
	}
}

type panicStore struct{ Store }

func (panicStore) ListCeremonies(context.Context, store.CeremonyFilter) ([]store.Ceremony, int, error) {
	panic("boom")
}

// apiClient calls the JSON API with a bearer token and decodes the answer.
func (h *harness) apiClient(t *testing.T) func(method, path, token string, body any) (*http.Response, map[string]any) {
	return func(method, path, token string, body any) (*http.Response, map[string]any) {
		t.Helper()
		text := ""
		if body != nil {
			b, _ := json.Marshal(body)
			text = string(b)
		}
		return apiCall(t, h, method, path, token, text)
	}
}

// token mints an API token for a witness.
func (h *harness) token(t *testing.T, witness string) string {
	t.Helper()
	tok, err := IssueToken(context.Background(), h.st, h.app.cfg.SessionSecret, witness, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAPI(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "api")
	api := h.apiClient(t)
	// No token, a bad token: problem documents.
	for _, tok := range []string{"", "gh1.forged.token"} {
		resp, p := api("GET", "/api/v1/ceremonies", tok, nil)
		if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/problem+json" || p["status"] != float64(401) || p["title"] == "" {
			t.Fatalf("token %q: %d %v", tok, resp.StatusCode, p)
		}
	}
	bobTok, aliceTok := h.token(t, "bob@example.org"), h.token(t, "alice@example.org")
	resp, list := api("GET", "/api/v1/ceremonies?status=collecting", bobTok, nil)
	if resp.StatusCode != 200 || list["total"] != float64(1) {
		t.Fatalf("list: %d %v", resp.StatusCode, list)
	}
	resp, p := api("GET", "/api/v1/ceremonies/web/none", bobTok, nil)
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("missing: %d %v", resp.StatusCode, p)
	}
	if resp, _ := api("GET", "/api/v1/nothing", bobTok, nil); resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("unknown endpoint: %d", resp.StatusCode)
	}
	resp, det := api("GET", "/api/v1/ceremonies/"+id, bobTok, nil)
	if resp.StatusCode != 200 || det["canSign"] != true {
		t.Fatalf("detail: %d %v", resp.StatusCode, det)
	}

	// Bob registers an ed25519 key through the account page, then signs through the API.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	addKey(t, h, h.client("bob@example.org"), priv, "laptop")
	_, stm := api("GET", "/api/v1/ceremonies/"+id+"/statement?decision=approve", bobTok, nil)
	stmt, _ := stm["statement"].(string)
	if stmt == "" {
		t.Fatalf("statement: %v", stm)
	}
	// Alice is not a witness: refused before the workflow.
	resp, p = api("POST", "/api/v1/ceremonies/"+id+"/sign", aliceTok, map[string]string{"idempotencyKey": "a1", "decision": "approve",
		"statement": stmt, "keyId": statement.KeyID(pub), "signature": base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(stmt)))})
	if resp.StatusCode != 403 {
		t.Fatalf("non-witness API sign: %d %v", resp.StatusCode, p)
	}
	// A signature by another key is refused.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	resp, p = api("POST", "/api/v1/ceremonies/"+id+"/sign", bobTok, map[string]string{"idempotencyKey": "b0", "decision": "approve",
		"statement": stmt, "keyId": statement.KeyID(pub), "signature": base64.StdEncoding.EncodeToString(ed25519.Sign(other, []byte(stmt)))})
	if resp.StatusCode != 403 || !strings.Contains(p["detail"].(string), "does not verify") {
		t.Fatalf("bad signature: %d %v", resp.StatusCode, p)
	}
	// A statement for the other decision is refused.
	resp, p = api("POST", "/api/v1/ceremonies/"+id+"/sign", bobTok, map[string]string{"idempotencyKey": "b0", "decision": "reject",
		"statement": stmt, "keyId": statement.KeyID(pub), "signature": base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(stmt)))})
	if resp.StatusCode != 403 {
		t.Fatalf("mismatched decision: %d %v", resp.StatusCode, p)
	}
	// Unknown fields and bad decisions: 400/422 problems.
	if resp, _ := api("POST", "/api/v1/ceremonies/"+id+"/sign", bobTok, map[string]string{"surprise": "x"}); resp.StatusCode != 400 {
		t.Fatalf("unknown field: %d", resp.StatusCode)
	}
	if resp, p := api("POST", "/api/v1/ceremonies/"+id+"/sign", bobTok, map[string]string{"decision": "maybe"}); resp.StatusCode != 422 || p["errors"] == nil {
		t.Fatalf("invalid fields: %d %v", resp.StatusCode, p)
	}
	if n := h.fake.signCount(); n != 0 {
		t.Fatalf("%d refused API signatures reached the workflow", n)
	}
	// The comment is part of what is signed: a statement prepared without it
	// does not cover one sent with it.
	resp, p = api("POST", "/api/v1/ceremonies/"+id+"/sign", bobTok, map[string]string{"idempotencyKey": "b1", "decision": "approve", "comment": "via api",
		"statement": stmt, "keyId": statement.KeyID(pub), "signature": base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(stmt)))})
	if resp.StatusCode != 403 || !strings.Contains(p["detail"].(string), "comment") {
		t.Fatalf("unsigned comment: %d %v", resp.StatusCode, p)
	}
	if n := h.fake.signCount(); n != 0 {
		t.Fatalf("%d refused API signatures reached the workflow", n)
	}
	_, stm = api("GET", "/api/v1/ceremonies/"+id+"/statement?decision=approve&comment=via+api", bobTok, nil)
	stmt, _ = stm["statement"].(string)
	queries := h.fake.queryCount()
	resp, p = api("POST", "/api/v1/ceremonies/"+id+"/sign", bobTok, map[string]string{"idempotencyKey": "b1", "decision": "approve", "comment": "via api",
		"statement": stmt, "keyId": statement.KeyID(pub), "signature": base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(stmt)))})
	if resp.StatusCode != 200 {
		t.Fatalf("API sign: %d %v", resp.StatusCode, p)
	}
	// Authorized from the Ops DB row: the sign update is the only workflow call.
	if n := h.fake.queryCount() - queries; n != 0 {
		t.Fatalf("API sign sent %d status queries", n)
	}
	req := h.fake.lastReq
	if req.Proof == nil || req.Proof.Type != "ed25519" || req.Statement != stmt || req.Via != "api" || req.IdempotencyKey != "api:bob@example.org:b1" {
		t.Fatalf("sign request = %+v", req)
	}
	// A retry of the accepted request gets the same answer, though Bob has
	// signed now; the same signature under a new key is refused as a second one.
	body := map[string]string{"idempotencyKey": "b1", "decision": "approve", "comment": "via api",
		"statement": stmt, "keyId": statement.KeyID(pub), "signature": base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(stmt)))}
	if resp, p := api("POST", "/api/v1/ceremonies/"+id+"/sign", bobTok, body); resp.StatusCode != 200 || p["state"] == nil {
		t.Fatalf("retried API sign: %d %v", resp.StatusCode, p)
	}
	body["idempotencyKey"] = "b2"
	if resp, p := api("POST", "/api/v1/ceremonies/"+id+"/sign", bobTok, body); resp.StatusCode != 409 {
		t.Fatalf("second signature under a new key: %d %v", resp.StatusCode, p)
	}
	// Once the ceremony has reached quorum the Ops DB row refuses before the
	// workflow, and the retry is answered from the recorded signature.
	h.fake.mutate(id, func(s *contract.State) { s.Status = contract.StatusQuorumReached })
	if err := h.st.RecordStatus(context.Background(), id, store.StatusChange{Status: contract.StatusQuorumReached, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	signs := h.fake.signCount()
	body["idempotencyKey"] = "b1"
	if resp, p := api("POST", "/api/v1/ceremonies/"+id+"/sign", bobTok, body); resp.StatusCode != 200 || p["state"] == nil {
		t.Fatalf("retried API sign after quorum: %d %v", resp.StatusCode, p)
	}
	body["idempotencyKey"] = "b3"
	if resp, p := api("POST", "/api/v1/ceremonies/"+id+"/sign", bobTok, body); resp.StatusCode != 409 {
		t.Fatalf("a new key after quorum: %d %v", resp.StatusCode, p)
	}
	if n := h.fake.signCount() - signs; n != 0 {
		t.Fatalf("after quorum the retries sent %d sign updates", n)
	}
	// A ceremony whose opening the Ops DB has not recorded yet is checked
	// against the live state instead.
	h.fake.mu.Lock()
	st := h.fake.st
	h.fake.st = nil // the fake workflow records nothing
	h.fake.mu.Unlock()
	late := openCeremony(t, h, "late")
	_, stm = api("GET", "/api/v1/ceremonies/"+late+"/statement?decision=approve", bobTok, nil)
	lateStmt, _ := stm["statement"].(string)
	queries = h.fake.queryCount()
	resp, p = api("POST", "/api/v1/ceremonies/"+late+"/sign", bobTok, map[string]string{"idempotencyKey": "b2", "decision": "approve",
		"statement": lateStmt, "keyId": statement.KeyID(pub), "signature": base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(lateStmt)))})
	if resp.StatusCode != 200 || h.fake.queryCount() == queries {
		t.Fatalf("API sign before the opening is recorded: %d %v, %d queries", resp.StatusCode, p, h.fake.queryCount()-queries)
	}
	h.fake.mu.Lock()
	h.fake.st = st
	h.fake.mu.Unlock()
	// The API ignores cookies: a browser session is not a credential here.
	resp, _ = api("GET", "/api/v1/ceremonies", "", nil)
	if resp.StatusCode != 401 {
		t.Fatal("API answered without a token")
	}
	// Chronicle ingest without the ingest token is refused.
	if resp, _ := api("POST", "/api/v1/chronicle", bobTok, map[string]string{}); resp.StatusCode != 401 {
		t.Fatalf("ingest with a witness token: %d", resp.StatusCode)
	}
}

func TestPagesWithData(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st)
		now := time.Now().UTC()
		fillCeremonies(t, st, 60, now)
		// One ceremony that reached quorum, through the fake (real signatures rows).
		id := openCeremony(t, h, "quorum")
		for _, c := range []string{"bob@example.org", "carol@example.org"} {
			if resp := h.signSession(h.client(c), id, "approve", ""); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign: %d", resp.StatusCode)
			}
		}
		alice := h.client("alice@example.org")
		_, dash := h.get(alice, "/")
		for _, want := range []string{`id="count-open"`, "Chain of custody", "Intact: all ", "Overdue", `<span class="muted">sealed 2`, `href="/ceremonies/load/c-`} {
			if !strings.Contains(dash, want) {
				t.Errorf("dashboard lacks %q", want)
			}
		}
		_, post := h.get(alice, "/posture")
		for _, want := range []string{`id="chart-status"`, `<rect class="st-`, `id="chart-quorum"`, `id="chart-overdue"`, ">Alice</text>"} {
			if !strings.Contains(post, want) {
				t.Errorf("posture lacks %q", want)
			}
		}
		_, arts := h.get(alice, "/artifacts")
		if !strings.Contains(arts, `id="artifact-table"`) {
			t.Error("artifact list empty")
		}
		resp, art := h.get(alice, "/artifacts/"+testDigest)
		if resp.StatusCode != 200 || !strings.Contains(art, `id="artifact-custody"`) || !strings.Contains(art, "signature.accepted") {
			t.Errorf("artifact page: %d", resp.StatusCode)
		}
		_, chron := h.get(alice, "/chronicle?all=1")
		if !strings.Contains(chron, "ceremony.opened") || !strings.Contains(chron, `id="older"`) {
			t.Error("chronicle (all) misses events or paging")
		}
		_, chron = h.get(alice, "/chronicle")
		if !strings.Contains(chron, `id="no-events"`) {
			t.Error("chronicle without chronicle events has no empty state")
		}
	})
}

// fillCeremonies writes n ceremonies straight into the Ops DB, as activities
// would: a mix of statuses and kinds, some overdue.
func fillCeremonies(t testing.TB, st *store.Store, n int, now time.Time) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		spec := contract.Spec{
			ID: "load/c-" + itoa(i), Kind: contract.Kinds[i%3], Title: "Ceremony " + itoa(i),
			Artifact:  contract.Artifact{Name: "app", Digest: "sha256:" + strings.Repeat(string("0123456789abcdef"[i%16]), 64)},
			Initiator: "ivy@example.org",
			Witnesses: []contract.WitnessRef{{ID: "alice@example.org", Role: "security"}, {ID: "bob@example.org", Role: "release"}},
			Quorum:    contract.Quorum{Threshold: 2}, Deadline: now.Add(time.Duration(i%5-2) * 24 * time.Hour),
		}
		opened := now.Add(-time.Duration(i) * 7 * time.Hour)
		if err := st.RecordOpened(ctx, store.Opened{Spec: spec, WorkflowID: contract.WorkflowID(spec.ID), OpenedAt: opened,
			Pending: []string{"alice@example.org", "bob@example.org"}}); err != nil {
			t.Fatal(err)
		}
		if s := contract.Statuses[i%len(contract.Statuses)]; s != contract.StatusCollecting {
			if err := st.RecordStatus(ctx, spec.ID, store.StatusChange{Status: s, At: opened.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestListFiltersAndPagination(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st)
		fillCeremonies(t, st, 60, time.Now().UTC())
		alice := h.client("alice@example.org")
		count := func(q string) (int, string) {
			_, body := h.get(alice, "/ceremonies"+q)
			m := regexp.MustCompile(`id="result-count">(\d+) ceremon`).FindStringSubmatch(body)
			if m == nil {
				return 0, body
			}
			n := 0
			for _, c := range m[1] {
				n = n*10 + int(c-'0')
			}
			return n, body
		}
		if n, body := count(""); n != 60 || !strings.Contains(body, `id="next-page"`) || strings.Count(body, "<tr data-id=") != listPageSize {
			t.Fatalf("all: %d", n)
		}
		if n, _ := count("?status=collecting"); n != 10 {
			t.Fatalf("collecting: %d", n)
		}
		if n, _ := count("?status=open"); n != 20 {
			t.Fatalf("open: %d", n)
		}
		if n, _ := count("?kind=key-rotation"); n != 20 {
			t.Fatalf("kind: %d", n)
		}
		if n, _ := count("?status=collecting&awaiting=me"); n != 10 {
			t.Fatalf("awaiting alice: %d", n)
		}
		if n, _ := count("?status=sealed&kind=release"); n != 0 {
			// sealed is every 6th from index 2, release every 3rd from 0: never both.
			t.Fatalf("sealed releases: %d", n)
		}
		_, p3 := h.get(alice, "/ceremonies?page=3")
		if strings.Count(p3, "<tr data-id=") != 10 || strings.Contains(p3, `id="next-page"`) {
			t.Fatal("last page wrong")
		}
		_, frag := h.get(alice, "/ceremonies?status=collecting&fragment=rows")
		if strings.Contains(frag, "<html") || !strings.Contains(frag, "ceremony-table") {
			t.Fatal("rows fragment is not a fragment")
		}
		_, empty := h.get(alice, "/ceremonies?status=sealed&kind=release")
		if !strings.Contains(empty, "No ceremony matches these filters") {
			t.Fatal("no empty state for filters")
		}
	})
}

func TestLiveStream(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "live")
	alice := h.client("alice@example.org")
	resp, err := alice.Get(h.srv.URL + "/ceremonies/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	events := make(chan string, 10)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				events <- string(buf[:n])
			}
			if err != nil {
				close(events)
				return
			}
		}
	}()
	wait := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case e, ok := <-events:
				if !ok {
					t.Fatalf("stream ended before %q", want)
				}
				if strings.Contains(e, want) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q within 10s", want)
			}
		}
	}
	wait("event: hello")
	if r := h.signSession(h.client("bob@example.org"), id, "approve", ""); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign: %d", r.StatusCode)
	}
	wait("event: change")
	// A change written by someone else (another replica, the worker) reaches the
	// stream through the Ops DB poller.
	ctx := context.Background()
	if err := h.st.RecordStatus(ctx, id, store.StatusChange{Status: contract.StatusCancelled, At: time.Now().Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	wait("event: change")
	// Shutdown ends the stream so graceful shutdown is not held up.
	h.app.Shutdown()
	select {
	case _, ok := <-events:
		for ok {
			_, ok = <-events
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open after Shutdown")
	}
}

// The server counts open streams (LiveStreams, guildhall_web_live_streams) and
// ends each after its maximum age, so a client that never closes one (a page
// frozen in a cache, a stuck proxy) holds a connection for a bounded time.
func TestLiveStreamsCountedAndAged(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	h.app.streamMaxAge = 300 * time.Millisecond
	id := openCeremony(t, h, "aged")
	resp, err := h.client("alice@example.org").Get(h.srv.URL + "/ceremonies/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if n := h.app.LiveStreams(); n != 1 {
		t.Fatalf("open streams: %d, want 1", n)
	}
	if g := gaugeValue(t, h.app.metrics, "guildhall_web_live_streams"); g != 1 {
		t.Fatalf("guildhall_web_live_streams = %v, want 1", g)
	}
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, resp.Body); done <- err }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlived its maximum age")
	}
	testenv.Eventually(t, 10*time.Second, "the stream to be uncounted", func() bool { return h.app.LiveStreams() == 0 })
	if g := gaugeValue(t, h.app.metrics, "guildhall_web_live_streams"); g != 0 {
		t.Fatalf("guildhall_web_live_streams = %v after the stream ended", g)
	}
}

func gaugeValue(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestChronicleIngestMount(t *testing.T) {
	st := storetest.SQLite(t)
	var got string
	ingest := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
		w.WriteHeader(http.StatusAccepted)
	})
	app, err := New(Config{BaseURL: "http://localhost:4000", SessionSecret: []byte(strings.Repeat("s", 32)), IngestToken: "collector-secret"},
		Deps{Store: st, Ceremonies: newFake(st), ChronicleIngest: ingest, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]int{"": 401, "wrong": 401, "collector-secret": 202} {
		rec := newRecorder()
		req := mustReq(http.MethodPost, "/api/v1/chronicle", strings.NewReader(`{"type":"x"}`))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		app.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("token %q: %d, want %d", tok, rec.Code, want)
		}
	}
	if got != `{"type":"x"}` {
		t.Fatalf("ingest handler got %q", got)
	}
}

// TestStreamSurvivesWriteTimeoutAndEndsOnShutdown runs the app in the server
// NewServer builds (with a short write timeout): a live stream outlives the
// timeout, still delivers changes, and does not hold up graceful shutdown.
func TestStreamSurvivesWriteTimeoutAndEndsOnShutdown(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "timeout")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(ln.Addr().String(), h.app)
	srv.WriteTimeout = 500 * time.Millisecond
	go func() { _ = srv.Serve(ln) }()
	alice := h.client("alice@example.org")
	resp, err := alice.Get("http://" + ln.Addr().String() + "/ceremonies/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan string, 10)
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				got <- string(buf[:n])
			}
			if err != nil {
				close(got)
				return
			}
		}
	}()
	if e := <-got; !strings.Contains(e, "event: hello") {
		t.Fatalf("first event %q", e)
	}
	time.Sleep(1500 * time.Millisecond) // three write timeouts
	h.app.notifyChanged(id)
	select {
	case e, ok := <-got:
		if !ok || !strings.Contains(e, "event: change") {
			t.Fatalf("after the write timeout: %q (open %v)", e, ok)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change event after the write timeout")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("shutdown waited %s for the stream", d)
	}
}

// IssueToken and SessionCookie are what the benchmark and the security tests
// use instead of the account page and a login: what they mint must be exactly
// what the app accepts, and nothing else.
func TestIssuedCredentialsMatchTheApp(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	secret := []byte(strings.Repeat("s", 32))
	other := []byte(strings.Repeat("x", 32))
	for _, c := range []struct {
		name   string
		secret []byte
		ttl    time.Duration
		ok     bool
	}{{"valid", secret, time.Hour, true}, {"other secret", other, time.Hour, false}, {"expired", secret, -time.Minute, false}} {
		tok, err := IssueToken(context.Background(), h.st, c.secret, "bob@example.org", c.ttl)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := h.app.parseToken(tok); ok != c.ok || (ok && got.WitnessID != "bob@example.org") {
			t.Errorf("token %s: parsed %+v %v, want ok=%v", c.name, got, ok, c.ok)
		}
		if resp, _ := h.apiClient(t)("GET", "/api/v1/ceremonies", tok, nil); (resp.StatusCode == http.StatusOK) != c.ok {
			t.Errorf("token %s: the API answered %d, want ok=%v", c.name, resp.StatusCode, c.ok)
		}
		v, err := SessionCookie(context.Background(), h.st, c.secret, "bob@example.org", c.ttl)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", h.srv.URL+"/ceremonies", nil)
		req.AddCookie(&http.Cookie{Name: SessionCookieName, Value: v})
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if (resp.StatusCode == http.StatusOK) != c.ok {
			t.Errorf("session %s: /ceremonies answered %d, want ok=%v", c.name, resp.StatusCode, c.ok)
		}
	}
}

// TestDetailFromTheOpsDB: when the workflow cannot be asked, the page shows the
// Ops DB's copy, with its signatures and counts, and says so.
func TestDetailFromTheOpsDB(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "offline")
	if _, err := h.fake.Sign(context.Background(), id, contract.SignRequest{IdempotencyKey: "b1", WitnessID: "bob@example.org",
		Decision: contract.Approve, Comment: "looks right"}); err != nil {
		t.Fatal(err)
	}
	h.fake.mu.Lock()
	h.fake.statusErr = errors.New("connection refused")
	h.fake.mu.Unlock()
	_, body := h.get(h.client("carol@example.org"), "/ceremonies/"+id)
	for _, want := range []string{"showing the last recorded state", "1 of 2 approvals", "looks right"} {
		if !strings.Contains(body, want) {
			t.Errorf("the Ops DB copy lacks %q", want)
		}
	}
}

// countingStore counts reads of the whole directory and of ceremonies' chains.
type countingStore struct {
	*store.Store
	lists, custody atomic.Int32
}

func (s *countingStore) CeremonyCustody(ctx context.Context, id string) ([]store.CustodyEvent, error) {
	s.custody.Add(1)
	return s.Store.CeremonyCustody(ctx, id)
}

// countingHarness is newHarness with its app on a countingStore.
func countingHarness(t *testing.T) (*harness, *countingStore) {
	t.Helper()
	st := storetest.SQLite(t)
	seedWitnesses(t, st)
	if _, _, err := st.ApplyTemplate(context.Background(), releaseTemplate(2), "test"); err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: st}
	fake := newFake(st)
	app, err := New(Config{BaseURL: "http://localhost:4000", SessionSecret: []byte(strings.Repeat("s", 32)), DevLogin: true},
		Deps{Store: cs, Ceremonies: fake, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app)
	t.Cleanup(func() { app.Shutdown(); srv.Close() })
	return &harness{t: t, st: st, fake: fake, app: app, srv: srv}, cs
}

func (s *countingStore) ListWitnesses(ctx context.Context) ([]store.Witness, error) {
	s.lists.Add(1)
	return s.Store.ListWitnesses(ctx)
}

func (s *countingStore) Directory(ctx context.Context) ([]rules.Person, error) {
	s.lists.Add(1)
	return s.Store.Directory(ctx)
}

// The composer reads the directory once per request: the witnesses it names
// on the page and the spec it opens come from the same read.
func TestComposerReadsTheDirectoryOnce(t *testing.T) {
	h, cs := countingHarness(t)
	ivy := h.client("ivy@example.org")

	cs.lists.Store(0)
	if resp, _ := h.get(ivy, "/ceremonies/new?template=release"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the form: %d", resp.StatusCode)
	}
	if n := cs.lists.Load(); n != 1 {
		t.Errorf("the form read the directory %d times", n)
	}
	cs.lists.Store(0)
	if resp := h.post(ivy, "/ceremonies/new", composeValues("once")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit: %d %s", resp.StatusCode, readAll(t, resp))
	}
	if n := cs.lists.Load(); n != 1 {
		t.Errorf("a submit read the directory %d times", n)
	}
}

// A ceremony's chain of custody is read where it is shown (the page and its
// live fragment), not for the API or a withdrawal, which never show it.
func TestCustodyReadWhereShown(t *testing.T) {
	h, cs := countingHarness(t)
	id := openCeremony(t, h, "chain")
	ivy := h.client("ivy@example.org")
	for _, path := range []string{"/ceremonies/" + id, "/ceremonies/" + id + "?fragment=live"} {
		cs.custody.Store(0)
		if resp, page := h.get(ivy, path); resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="custody"`) {
			t.Fatalf("%s: %d, or no chain of custody on it", path, resp.StatusCode)
		}
		if n := cs.custody.Load(); n != 1 {
			t.Errorf("%s read the chain %d times", path, n)
		}
	}
	cs.custody.Store(0)
	if resp, _ := h.apiClient(t)("GET", "/api/v1/ceremonies/"+id, h.token(t, "ivy@example.org"), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("API detail: %d", resp.StatusCode)
	}
	if resp := h.post(ivy, "/ceremonies/"+id+"/withdraw", url.Values{"reason": {"wrong artifact"}, "key": {strings.Repeat("b", 32)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("withdraw: %d %s", resp.StatusCode, readAll(t, resp))
	}
	if n := cs.custody.Load(); n != 0 {
		t.Errorf("the API detail and a withdrawal read the chain %d times", n)
	}
}
