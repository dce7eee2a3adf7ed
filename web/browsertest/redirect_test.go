package browsertest

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Finding 1 of issue 17, in Chromium: whatever `next` a login link carries,
// the browser lands on this site after logging in. Go writes a Location header
// as it is given; the browser drops tabs and line breaks and reads "\" as "/",
// so "/%09/evil.example" used to land on //evil.example.
func TestLoginNextNeverLeavesTheSite(t *testing.T) {
	for _, next := range []string{"/%09/evil.example", "/%0A/evil.example", "/%0D%0A/evil.example", "/%5C/evil.example", "%09//evil.example", "//evil.example"} {
		u := newUserAnon(t)
		u.open("/login?next=" + next)
		u.do(
			chromedp.WaitVisible(chromedp.ID("witness")),
			chromedp.SetValue(chromedp.ID("witness"), erin),
			chromedp.Click(chromedp.CSS("#dev-login button")),
		)
		// Where the login leads (polled: the page navigates under us).
		loc := u.location()
		for deadline := time.Now().Add(step); strings.Contains(loc, "/login") && time.Now().Before(deadline); loc = u.location() {
			time.Sleep(50 * time.Millisecond)
		}
		if !strings.HasPrefix(loc, stack.baseURL+"/") || strings.Contains(loc, "/login") {
			t.Errorf("next=%s: the browser went to %s", next, loc)
		}
	}
}
