package web

import (
	"context"
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
