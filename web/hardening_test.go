package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/guildhouse/guildhall/store/storetest"
)

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
