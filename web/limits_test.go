package web

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

// tooMany checks a refusal by a limit: 429, a Retry-After in seconds, and
// words on the limit.
func tooMany(t *testing.T, what string, resp *http.Response, body string, l limit) {
	t.Helper()
	after, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || err != nil || after <= 0 || !strings.Contains(body, l.what) {
		t.Fatalf("%s: %d, Retry-After %q, want 429 naming %q\n%s", what, resp.StatusCode, resp.Header.Get("Retry-After"), l.what, body)
	}
}

// Finding 4 of issue 17: per-person limits on opening ceremonies, minting
// tokens and API reads that query a workflow; a refusal says when to come back.
func TestCostlyActionsAreLimited(t *testing.T) {
	t.Run("opening ceremonies", func(t *testing.T) {
		h := newHarness(t, storetest.SQLite(t))
		ivy := h.client("ivy@example.org")
		// A refused form does not count: only ceremonies that open do.
		bad := composeValues("bad")
		bad.Set("digest", "nope")
		for range openLimit.n + 2 {
			if resp := h.post(ivy, "/ceremonies/new", bad); resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("an invalid form: %d", resp.StatusCode)
			}
		}
		for i := range openLimit.n {
			openCeremony(t, h, fmt.Sprintf("burst-%d", i))
		}
		resp := h.post(ivy, "/ceremonies/new", composeValues("one-too-many"))
		tooMany(t, "one ceremony too many", resp, readAll(t, resp), openLimit)
		if _, err := h.fake.Status(context.Background(), "web/one-too-many"); err == nil {
			t.Fatal("the refused ceremony opened")
		}
		// Someone else is not held back by Ivy's limit.
		if err := h.st.EnsureWitness(context.Background(), store.NewPerson{ID: "olga@example.org", DisplayName: "Olga", Roles: []string{"admin"}}, "test"); err != nil {
			t.Fatal(err)
		}
		if resp := h.post(h.client("olga@example.org"), "/ceremonies/new", composeValues("olgas")); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("another person opening: %d %s", resp.StatusCode, readAll(t, resp))
		}
	})
	t.Run("minting tokens", func(t *testing.T) {
		h := newHarness(t, storetest.SQLite(t))
		bob := h.client("bob@example.org")
		for range tokenLimit.n {
			h.mintToken(bob, "t")
		}
		resp := h.post(bob, "/account/tokens", url.Values{})
		tooMany(t, "one token too many", resp, readAll(t, resp), tokenLimit)
		live, _ := h.st.LiveWebSessions(context.Background(), "bob@example.org", time.Now())
		tokens := 0
		for _, s := range live {
			if s.Kind == "token" {
				tokens++
			}
		}
		if tokens != tokenLimit.n {
			t.Fatalf("%d tokens live, want %d", tokens, tokenLimit.n)
		}
	})
	t.Run("API reads of live state", func(t *testing.T) {
		h := newHarness(t, storetest.SQLite(t))
		id := openCeremony(t, h, "reads")
		api := h.apiClient(t)
		tok := h.token(t, "bob@example.org")
		queries := h.fake.queryCount()
		for i := range readLimit.n {
			path := "/api/v1/ceremonies/" + id
			if i%2 == 1 {
				path += "/statement?decision=approve"
			}
			if resp, p := api("GET", path, tok, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("read %d: %d %v", i, resp.StatusCode, p)
			}
		}
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/api/v1/ceremonies/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		tooMany(t, "one read too many", resp, body, readLimit)
		if resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("the API's refusal is %s", resp.Header.Get("Content-Type"))
		}
		if n := h.fake.queryCount() - queries; n != readLimit.n {
			t.Errorf("%d status queries for %d reads that passed", n, readLimit.n)
		}
		// Lists come from the Ops DB and are not held back.
		if resp, _ := api("GET", "/api/v1/ceremonies", tok, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("a list after the read limit: %d", resp.StatusCode)
		}
	})
}

// Finding 6 of issue 17: a comment that is not valid UTF-8 is refused at review
// with a clear message (it used to make every later confirm fail with "the
// ceremony changed since you reviewed it"); the API refuses it too.
func TestInvalidUTF8CommentRefusedAtReview(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "utf8")
	bob := h.client("bob@example.org")
	resp, body := h.review(bob, id, "approve", "looks good \xff\xfe")
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "not valid text") {
		t.Fatalf("review with invalid UTF-8: %d", resp.StatusCode)
	}
	if strings.Contains(body, `name="ticket"`) {
		t.Fatal("a ticket was made for an invalid comment")
	}
	// Valid text in any script is fine, and the confirm goes through.
	if resp := h.signSession(bob, id, "approve", "geprüft ✓ 検証済み"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a valid comment: %d %s", resp.StatusCode, readAll(t, resp))
	}
	if got := h.fake.lastReq.Comment; got != "geprüft ✓ 検証済み" {
		t.Fatalf("comment sent %q", got)
	}
	api := h.apiClient(t)
	if resp, p := api("GET", "/api/v1/ceremonies/"+id+"/statement?decision=approve&comment=%FF", h.token(t, "carol@example.org"), nil); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(p["detail"].(string), "not valid text") {
		t.Fatalf("API statement with invalid UTF-8: %d %v", resp.StatusCode, p)
	}
}

// Finding 7 of issue 17: a witness whose only key is ed25519 is not offered a
// form the workflow would refuse, and is told to use `guildhall sign`.
func TestEd25519OnlyWitnessIsToldToSignWithTheKey(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "edkey")
	bob := h.client("bob@example.org")
	form := signValues(t, h, bob, id)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	storetest.AddKey(t, h.st, "bob@example.org", priv)
	_, page := h.get(bob, "/ceremonies/"+id)
	if strings.Contains(page, `id="sign-form"`) || !strings.Contains(page, `id="needs-key"`) || !strings.Contains(page, "guildhall sign "+id) {
		t.Fatalf("the page offers the form or does not say what to do:\n%s", between(page, `id="sign-panel"`))
	}
	resp := h.post(bob, "/ceremonies/"+id+"/review", form)
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "guildhall sign") {
		t.Fatalf("a review anyway: %d", resp.StatusCode)
	}
	if h.fake.signCount() != 0 {
		t.Fatal("a signature reached the workflow")
	}
}

// Finding 7 of issue 17: a cross-site POST to a JSON route gets a JSON problem,
// not a page; HEAD is answered like GET, without a body.
func TestJSONRefusalsAndHEAD(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "json")
	bob := h.client("bob@example.org")
	for _, path := range []string{"/ceremonies/" + id + "/sign/passkey", "/account/passkeys/begin"} {
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := bob.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, "cross-origin") {
			t.Errorf("cross-site JSON POST to %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	for path, want := range map[string]int{"/health": 200, "/login": 200, "/": 200, "/ceremonies/" + id: 200, "/events": 200, "/api/v1/ceremonies": 401, "/nowhere": 404} {
		req, _ := http.NewRequest(http.MethodHead, h.srv.URL+path, nil)
		resp, err := bob.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("HEAD %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}
