package browsertest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// navBound is a functional bound, not a timing goal: it separates "the page
// came" from the 30–60 s hangs a browser shows when its connections to the
// host are all held by pages in the back/forward cache.
const navBound = 2 * time.Second

// navStep is one navigation a person makes: click a link, or go back or
// forward. want is the path (and query) the tab then shows.
type navStep struct {
	what  string
	click string // CSS selector of the link to click; "" for back/forward
	js    string // history.back() / history.forward(), after the evaluation returns
	want  string
}

func clickTo(sel, want string) navStep { return navStep{what: "click " + sel, click: sel, want: want} }
func back(want string) navStep {
	return navStep{what: "back", js: "setTimeout(function () { history.back() }, 0)", want: want}
}
func forward(want string) navStep {
	return navStep{what: "forward", js: "setTimeout(function () { history.forward() }, 0)", want: want}
}

// TestOneTabManyNavigations browses as a person does: one tab on Chromium's
// default settings (back/forward cache on), links and the back and forward
// buttons, many pages with live updates. Every page must come within navBound,
// and the server must never hold more than two event streams for the tab: a
// page in the back/forward cache holds none.
func TestOneTabManyNavigations(t *testing.T) {
	a, b := openDirect(t, "nav-a"), openDirect(t, "nav-b")
	waitStreams(t, 0) // tabs of earlier tests are gone
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // the server's count, sampled through the whole journey
		defer close(sampled)
		for {
			if n := int64(stack.app.LiveStreams()); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	u := newUser(t, "bob@guildhall.test", false) // logs in: the tab is on the dashboard
	nav := func(href string) string { return `header nav a[href="` + href + `"]` }
	row := func(id string) string { return `#ceremony-rows a[href="/ceremonies/` + id + `"]` }
	steps := []navStep{
		clickTo(nav("/ceremonies"), "/ceremonies"),
		clickTo(row(a), "/ceremonies/"+a),
		clickTo(nav("/"), "/"),
		clickTo(`main a[href="/ceremonies/`+b+`"]`, "/ceremonies/"+b),
		clickTo(nav("/artifacts"), "/artifacts"),
		clickTo(nav("/ceremonies"), "/ceremonies"),
		clickTo(row(b), "/ceremonies/"+b),
		clickTo(nav("/chronicle"), "/chronicle"),
		back("/ceremonies/" + b),
		back("/ceremonies"),
		back("/artifacts"),
		forward("/ceremonies"),
		forward("/ceremonies/" + b),
		clickTo(nav("/"), "/"),
		clickTo(nav("/posture"), "/posture"),
		back("/"),
		clickTo("#whoami", "/account"),
		clickTo(nav("/ceremonies"), "/ceremonies"),
		clickTo(row(a), "/ceremonies/"+a),
		back("/ceremonies"),
	}
	var report strings.Builder
	fmt.Fprintf(&report, "%-3s %-55s %-28s %8s %8s\n", "#", "navigation", "page", "ms", "streams")
	var slow []string
	restored := 0
	for i, s := range steps {
		took, ok := u.navigate(s)
		n := stack.app.LiveStreams()
		if !ok {
			fmt.Fprintf(&report, "%-3d %-55s %-28s %8s %8d\n", i+1, s.what, s.want, "stuck", n)
			slow = append(slow, fmt.Sprintf("%d %s → %s did not come within %v", i+1, s.what, s.want, took.Round(time.Second)))
			break // the tab is stuck; later steps would only repeat it
		}
		// A page that kept the marker set on it below came back from the
		// back/forward cache rather than being loaded again.
		cached := run(u, chromedp.Evaluate[bool](`window.__guildhallShown === true`))
		if cached {
			restored++
		}
		run(u, chromedp.Evaluate[bool](`window.__guildhallShown = true`))
		fmt.Fprintf(&report, "%-3d %-55s %-28s %8d %8d %s\n", i+1, s.what, s.want, took.Milliseconds(), n, map[bool]string{true: "from bfcache"}[cached])
		if took > navBound {
			slow = append(slow, fmt.Sprintf("%d %s → %s took %v", i+1, s.what, s.want, took.Round(time.Millisecond)))
		}
	}
	close(stop)
	<-sampled
	t.Logf("one tab, %d navigations (%d from the back/forward cache); peak open event streams on the server: %d\n%s",
		len(steps), restored, peak.Load(), report.String())
	if restored == 0 && len(slow) == 0 {
		t.Error("no page came back from the back/forward cache: this browser does not use it, so the test proves nothing about it")
	}
	if len(slow) > 0 {
		u.shot("FAILED-navigation")
		t.Errorf("navigations slower than %v (a hung page): %s", navBound, strings.Join(slow, "; "))
	}
	if p := peak.Load(); p > 2 {
		t.Errorf("the server held %d event streams for one tab at once; want at most 2 (pages in the back/forward cache must close theirs)", p)
	}
}

// navigate performs one step and waits until the tab shows the page, loaded,
// with its live stream connected when it has one. It returns how long that took
// and false when the page did not come within 20 s.
func (u *user) navigate(s navStep) (time.Duration, bool) {
	u.t.Helper()
	ready := fmt.Sprintf(`location.pathname + location.search === %q && document.readyState === "complete" &&
		(!document.querySelector("[data-live-src]") || document.body.getAttribute("data-live") === "connected")`, s.want)
	// Clicks are real mouse clicks at the link's place on the screen, found by
	// script: chromedp's DOM queries lose track of a page restored from the
	// back/forward cache (no load event).
	var x, y float64
	if s.click != "" {
		var at []float64
		at = run(u, chromedp.Evaluate[[]float64](fmt.Sprintf(`(() => {
			const el = document.querySelector(%q);
			if (!el) return [];
			el.scrollIntoView({block: "center"});
			const r = el.getBoundingClientRect();
			return r.width && r.height ? [r.left + r.width / 2, r.top + r.height / 2] : [];
		})()`, s.click)))
		if len(at) != 2 {
			u.t.Logf("%s: no visible link on %s", s.what, u.location())
			return 0, false
		}
		x, y = at[0], at[1]
	}
	start := time.Now()
	act := chromedp.Evaluate[chromedp.Void](s.js)
	if s.click != "" {
		act = chromedp.MouseClickXY(x, y)
	}
	ctx, cancel := context.WithTimeout(u.ctx, 20*time.Second)
	err := chromedp.Do(ctx, act)
	cancel()
	if err != nil {
		u.t.Logf("%s: %v", s.what, err)
		return time.Since(start), false
	}
	deadline := start.Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(u.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](ready))
		cancel()
		if err == nil && ok {
			return time.Since(start), true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start), false
}

// waitStreams waits until the server holds n event streams (tabs of earlier
// tests close theirs when the tests end).
func waitStreams(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for stack.app.LiveStreams() != n {
		if time.Now().After(deadline) {
			t.Fatalf("the server holds %d event streams, want %d before this test starts", stack.app.LiveStreams(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
