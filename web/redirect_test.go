package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/guildhouse/guildhall/store/storetest"
)

// browserTarget is where a browser goes for a Location header on a page of
// base, as the WHATWG URL parser reads it: leading and trailing C0 controls
// and spaces trimmed, tabs and line breaks removed anywhere, "\" read as "/"
// (http and https are special schemes), then resolved against the page.
func browserTarget(t *testing.T, base, loc string) *url.URL {
	t.Helper()
	loc = strings.TrimFunc(loc, func(r rune) bool { return r <= ' ' })
	loc = strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(loc)
	b, _ := url.Parse(base)
	ref, err := url.Parse(loc)
	if err != nil {
		// A browser would refuse to navigate; nothing is left to check.
		return b
	}
	return b.ResolveReference(ref)
}

// Finding 1 of issue 17: no post-login redirect leaves the site, for any byte
// in any position that matters, not only the tab of the report. Each value
// goes through the same http.Redirect the login handlers use.
func TestSafeNextKeepsEveryRedirectOnSite(t *testing.T) {
	const base = "http://localhost:4000/login/oidc/callback"
	templates := []string{"/%s/evil.example", "%s//evil.example", "/%s\\evil.example", "/\\%sevil.example", "//%sevil.example",
		"%s/evil.example", "/%s%s/evil.example", "/ceremonies%s//evil.example", "%shttps://evil.example", "/%s@evil.example"}
	checked := 0
	for b := 0; b < 256; b++ {
		for _, tpl := range templates {
			in := strings.ReplaceAll(tpl, "%s", string([]byte{byte(b)}))
			got := safeNext(in)
			if got != "/" && got != in {
				t.Fatalf("safeNext(%q) = %q: neither the input nor /", in, got)
			}
			rec := httptest.NewRecorder()
			http.Redirect(rec, httptest.NewRequest(http.MethodPost, "/login/dev", nil), got, http.StatusSeeOther)
			if u := browserTarget(t, base, rec.Header().Get("Location")); u.Host != "localhost:4000" || u.Scheme != "http" {
				t.Errorf("next=%q: Location %q takes a browser to %s", in, rec.Header().Get("Location"), u)
			}
			checked++
		}
	}
	// What a legitimate next looks like is kept as it is.
	for _, ok := range []string{"/", "/ceremonies", "/ceremonies?status=sealed&kind=release", "/ceremonies/web/rel-1?signed=1#sign",
		"/artifacts/sha256:4f53", "/ceremonies%3Fx", "/a/%2F/b"} {
		if got := safeNext(ok); got != ok {
			t.Errorf("safeNext(%q) = %q, want it kept", ok, got)
		}
	}
	for _, bad := range []string{"", "ceremonies", "https://evil.example", "//evil.example", "/\\evil.example", "/\t/evil.example",
		"/\n/evil.example", " //evil.example", "/\x00/evil.example", "/é", strings.Repeat("/a", maxNext)} {
		if got := safeNext(bad); got != "/" {
			t.Errorf("safeNext(%.60q) = %.60q, want /", bad, got)
		}
	}
	t.Logf("%d values checked", checked)
}

// The same through the handlers: the login page's form, the development login
// and the OIDC start (which keeps next in its flow cookie).
func TestLoginHandlersKeepNextOnSite(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	for _, next := range []string{"/\t/evil.example", "/\r\n/evil.example", "/ /evil.example", "/\\/evil.example"} {
		_, page := h.get(h.client(""), "/login?next="+url.QueryEscape(next))
		m := regexp.MustCompile(`name="next" value="([^"]*)"`).FindStringSubmatch(page)
		if m == nil || htmlUnescape(m[1]) != "/" {
			t.Errorf("login page with next=%q carries %q", next, m)
		}
		resp := h.post(h.client(""), "/login/dev", url.Values{"witness": {"alice@example.org"}, "next": {next}})
		if loc := resp.Header.Get("Location"); loc != "/" {
			t.Errorf("dev login with next=%q redirected to %q", next, loc)
		}
	}
}
