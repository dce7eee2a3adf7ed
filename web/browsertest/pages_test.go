package browsertest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
)

// page is one page of the app as a person reaches it. Every check that walks
// the app (phone width, accessibility, screenshots) walks this table: a new
// page is covered by adding a row to appPages.
type page struct {
	name string
	as   string // the viewer's witness id; "" = not logged in
	path string // where the page is (GET)
	// reach, when set, is how a person gets from path to the page (a form post);
	// it ends when the page is shown.
	reach func(u *user)
	code  int  // HTTP status of path (default 200); not checked with reach
	fresh bool // needs a tab of its own (it ends the session)
}

// fixtures are the ceremonies the page table shows, one per state a detail
// page can be in.
type fixtures struct {
	collecting, roleShort, quorum, sealed, rejected, cancelled, expired string
	digest, template                                                    string
	// intuneDigest is an artifact with Intune deployments (one deployed but
	// drifted, one failed).
	intuneDigest string
}

const (
	erin = "erin@guildhall.test" // security, no keys: signs with a session
	finn = "finn@guildhall.test" // release, no keys
	gwen = "gwen@guildhall.test" // release, no keys
	ivy  = "ivy@guildhall.test"  // opens ceremonies
	dave = "dave@guildhall.test" // a witness of none of them
	ada  = "ada@guildhall.test"  // the admin
)

func appPages(f fixtures) []page {
	detail := func(id string) string { return "/ceremonies/" + id }
	return []page{
		{name: "login", path: "/login"},
		{name: "dashboard", as: erin, path: "/"},
		{name: "ceremonies", as: erin, path: "/ceremonies"},
		{name: "ceremonies-filtered", as: erin, path: "/ceremonies?status=collecting&kind=release&awaiting=me"},
		{name: "ceremonies-none", as: erin, path: "/ceremonies?status=expired&kind=accord"},
		{name: "detail-to-sign", as: erin, path: detail(f.collecting)},
		{name: "detail-signed", as: finn, path: detail(f.collecting) + "?signed=1"},
		{name: "detail-role-short", as: ivy, path: detail(f.roleShort)},
		{name: "detail-quorum", as: erin, path: detail(f.quorum)},
		{name: "detail-sealed", as: dave, path: detail(f.sealed)},
		{name: "detail-rejected", as: finn, path: detail(f.rejected)},
		{name: "detail-cancelled", as: ivy, path: detail(f.cancelled)},
		{name: "detail-expired", as: erin, path: detail(f.expired)},
		{name: "review", as: erin, path: detail(f.collecting), reach: func(u *user) {
			u.do(
				chromedp.Click(chromedp.ID("decision-approve")),
				chromedp.SendKeys(chromedp.ID("comment"), "Checked the build provenance and the SBOM."),
				chromedp.Click(chromedp.ID("sign-submit")),
				chromedp.WaitVisible(chromedp.ID("confirm-sign")),
			)
		}},
		{name: "composer-templates", as: ivy, path: "/ceremonies/new"},
		{name: "composer", as: ivy, path: "/ceremonies/new?template=accord"},
		{name: "composer-errors", as: ivy, path: "/ceremonies/new?template=release", reach: func(u *user) {
			u.do(
				chromedp.SendKeys(chromedp.ID("artifact_name"), "guildhall"),
				chromedp.SendKeys(chromedp.ID("digest"), "sha256:not-a-digest"),
				chromedp.SetValue(chromedp.ID("deadline"), "2001-01-01T00:00"),
				chromedp.Click(chromedp.ID("open-ceremony")),
				chromedp.WaitVisible(chromedp.ID("error-summary")),
			)
			// The focus moves to the summary, which links each field.
			if got := run(u, chromedp.Evaluate[string](`document.activeElement.id + " " + document.querySelectorAll("#error-summary li a[href^='#']").length`)); got != "error-summary 3" {
				u.t.Errorf("after a refused form: focus and summary links = %q, want \"error-summary 3\"", got)
			}
		}},
		{name: "artifacts", as: erin, path: "/artifacts"},
		{name: "artifact", as: erin, path: "/artifacts/" + f.digest},
		{name: "artifact-intune", as: erin, path: "/artifacts/" + f.intuneDigest},
		{name: "chronicle", as: erin, path: "/chronicle"},
		{name: "chronicle-all", as: erin, path: "/chronicle?all=1"},
		{name: "posture", as: erin, path: "/posture"},
		{name: "account", as: erin, path: "/account"},
		{name: "account-new-token", as: erin, path: "/account", reach: func(u *user) {
			u.do(chromedp.SendKeys(chromedp.ID("token_label"), "release script"), chromedp.Click(chromedp.ID("create-token")),
				chromedp.WaitVisible(chromedp.ID("api-token")))
		}},
		{name: "account-add-key", as: erin, path: "/account", reach: func(u *user) {
			u.do(chromedp.Click(chromedp.ID("key-challenge")), chromedp.WaitVisible(chromedp.ID("key-proof")))
		}},
		{name: "admin-directory", as: ada, path: "/admin/witnesses?q=guildhall.test&state=active"},
		{name: "admin-person", as: ada, path: "/admin/witnesses/" + erin},
		{name: "admin-add-errors", as: ada, path: "/admin/witnesses/new", reach: func(u *user) {
			u.do(
				chromedp.SendKeys(chromedp.ID("id"), "not an id"),
				chromedp.SendKeys(chromedp.ID("email"), "x@"),
				chromedp.SendKeys(chromedp.ID("more_roles"), "Release Managers"),
				chromedp.Click(chromedp.ID("save-person")),
				chromedp.WaitVisible(chromedp.ID("error-summary")),
			)
		}},
		{name: "admin-templates", as: ada, path: "/admin/templates"},
		{name: "admin-template", as: ada, path: "/admin/templates/" + f.template},
		{name: "admin-template-errors", as: ada, path: "/admin/templates/new", reach: func(u *user) {
			u.do(
				chromedp.SetValue(chromedp.ID("template-text"), "name: Release\nkind: launch\nquorum:\n  threshold: 0\n"),
				chromedp.Click(chromedp.ID("save-template")),
				chromedp.WaitVisible(chromedp.ID("template-problems")),
			)
		}},
		{name: "admin-refused", as: erin, path: "/admin/witnesses", code: 403},
		{name: "not-found", as: erin, path: "/no/such/page", code: 404},
		{name: "no-such-ceremony", as: erin, path: "/ceremonies/web/no-such-ceremony", code: 404},
		{name: "not-a-witness", as: dave, path: detail(f.collecting), reach: func(u *user) {
			// A forged post from the viewer's own page: the refusal is a page too.
			u.do(chromedp.Evaluate[chromedp.Void](`(() => {
				const f = document.createElement("form");
				f.method = "post"; f.action = location.pathname + "/review";
				document.body.append(f); f.submit();
			})()`), chromedp.WaitVisible(chromedp.CSS("section.error")))
		}},
		{name: "logged-out", as: dave, path: "/", fresh: true, reach: func(u *user) {
			u.do(chromedp.Click(chromedp.CSS(`header form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS("section.narrow")))
		}},
	}
}

// width is a screen the pages are checked on.
type width struct {
	name   string
	w, h   int64
	mobile bool
}

var (
	desktop = width{"desktop", 1280, 900, false}
	phone   = width{"phone", 390, 844, true}
)

// TestEveryPage walks appPages at desktop and phone width. On each page: axe
// finds no serious or critical violation; on the phone the page does not
// scroll sideways and every link and button of the header is on the screen,
// inside the header and not covered. Full-page screenshots of every page at
// both widths go to <output>/pages (`make screenshots`).
func TestEveryPage(t *testing.T) {
	axeJS, err := axeSource()
	if err != nil {
		t.Fatal(err)
	}
	f := makeFixtures(t)
	pages := appPages(f)
	dir := filepath.Join(stack.outDir, "pages")
	var report strings.Builder
	fmt.Fprintf(&report, "%-22s %-8s %6s %6s %5s\n", "page", "width", "scroll", "inner", "axe")
	for _, w := range []width{desktop, phone} {
		if err := os.MkdirAll(filepath.Join(dir, w.name), 0o755); err != nil {
			t.Fatal(err)
		}
		tabs := map[string]*user{}
		tab := func(p page) *user {
			if u := tabs[p.as]; u != nil && !p.fresh {
				return u
			}
			var u *user
			if p.as == "" {
				u = newUserAnon(t)
			} else {
				u = newUser(t, p.as, false)
			}
			u.emulate(w)
			if !p.fresh {
				tabs[p.as] = u
			}
			return u
		}
		for i, p := range pages {
			u := tab(p)
			u.openPage(p)
			c := u.checkPage(axeJS, w)
			u.shotTo(filepath.Join(dir, w.name, fmt.Sprintf("%02d-%s.png", i+1, p.name)))
			fmt.Fprintf(&report, "%-22s %-8s %6d %6d %5d\n", p.name, w.name, c.ScrollWidth, c.InnerWidth, len(c.Axe))
			for _, v := range c.Axe {
				t.Errorf("%s at %s width: axe: %s", p.name, w.name, v)
			}
			if w.mobile {
				// A phone lays out a page wider than its screen and zooms out
				// (innerWidth grows with it), so both must hold.
				if c.ScrollWidth > c.InnerWidth || c.InnerWidth != int(w.w) {
					t.Errorf("%s at %s width: the page is %d px wide on a %d px screen (scrolls sideways); widest: %s",
						p.name, w.name, c.ScrollWidth, w.w, strings.Join(c.Wide, ", "))
				}
				for _, l := range c.Links {
					if len(l.Problems) > 0 {
						t.Errorf("%s at %s width: header item %q is %s", p.name, w.name, l.Text, strings.Join(l.Problems, ", "))
					}
				}
			}
		}
	}
	t.Logf("%d pages at desktop and phone width; screenshots in %s\n%s", len(pages), dir, report.String())
}

// emulate sets the tab's screen.
func (u *user) emulate(w width) {
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if w.mobile {
		opts = []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait}
	}
	u.do(chromedp.EmulateViewport(w.w, w.h, opts...))
}

// openPage shows the page in the tab.
func (u *user) openPage(p page) {
	u.t.Helper()
	resp := run(u, chromedp.NavigateResponse(stack.baseURL+p.path))
	want := p.code
	if want == 0 {
		want = 200
	}
	if int(resp.Status) != want {
		u.t.Errorf("%s: GET %s answered %d, want %d", p.name, p.path, resp.Status, want)
	}
	if p.reach != nil {
		p.reach(u)
	}
}

// pageCheck is what checkPage measures on a page.
type pageCheck struct {
	ScrollWidth int      `json:"scrollWidth"`
	InnerWidth  int      `json:"innerWidth"`
	Wide        []string `json:"wide"` // elements reaching past the screen's right edge
	Links       []struct {
		Text     string   `json:"text"`
		Problems []string `json:"problems"`
	} `json:"links"`
	Axe []string `json:"-"`
}

// measurePage measures the page on a screen of the given width (%d).
const measurePage = `(() => {
	window.scrollTo(0, 0);
	const vw = window.innerWidth, screenW = %d, edge = Math.min(vw, screenW) + 0.5;
	const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.classList.length ? "." + [...el.classList].join(".") : "");
	const out = {scrollWidth: document.documentElement.scrollWidth, innerWidth: vw, wide: [], links: []};
	if (out.scrollWidth > vw || vw > screenW) {
		for (const el of document.querySelectorAll("body *")) {
			const r = el.getBoundingClientRect();
			if (r.right > edge && ![...el.children].some(c => c.getBoundingClientRect().right > edge)) {
				out.wide.push(name(el) + " (" + Math.round(r.right) + " px)");
				if (out.wide.length === 5) break;
			}
		}
		// Text that does not wrap overflows its box without widening it.
		const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
		for (let n = walk.nextNode(); n && out.wide.length < 5; n = walk.nextNode()) {
			const range = document.createRange();
			range.selectNodeContents(n);
			const r = range.getBoundingClientRect();
			if (r.width && r.right > edge) out.wide.push("text in " + name(n.parentElement) + " (" + Math.round(r.right) + " px): " + n.textContent.trim().slice(0, 40));
		}
	}
	const header = document.querySelector("header.top");
	const hr = header ? header.getBoundingClientRect() : null;
	for (const el of document.querySelectorAll("header.top a, header.top button")) {
		const r = el.getBoundingClientRect(), problems = [];
		if (!r.width || !r.height || getComputedStyle(el).visibility !== "visible") problems.push("not shown");
		else {
			if (r.left < 0 || r.right > edge) problems.push("off the screen");
			if (r.top < hr.top || r.bottom > hr.bottom || r.left < hr.left || r.right > hr.right) problems.push("outside the header");
			const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
			if (!hit || !(hit === el || el.contains(hit))) problems.push("covered by " + (hit ? name(hit) : "nothing"));
		}
		out.links.push({text: el.textContent.trim(), problems});
	}
	return out;
})()`

func (u *user) checkPage(axeJS string, w width) pageCheck {
	u.t.Helper()
	c := run(u, chromedp.Evaluate[pageCheck](fmt.Sprintf(measurePage, w.w)))
	if !run(u, chromedp.Evaluate[bool](`typeof axe === "object"`)) {
		run(u, chromedp.Evaluate[chromedp.Void](axeJS))
	}
	ctx, cancel := context.WithTimeout(u.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		u.t.Fatalf("axe on %s: %v", u.location(), err)
	}
	c.Axe = v
	return c
}

var shotMu sync.Mutex

// shotTo saves a full-page screenshot.
func (u *user) shotTo(path string) {
	ctx, cancel := context.WithTimeout(u.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		u.t.Logf("screenshot %s: %v", path, err)
		return
	}
	shotMu.Lock()
	defer shotMu.Unlock()
	if err := os.WriteFile(path, png, 0o644); err != nil {
		u.t.Logf("save screenshot: %v", err)
	}
}

// makeFixtures opens a ceremony for each state a detail page shows and brings
// it there, as the workflow would with real witnesses.
func makeFixtures(t *testing.T) fixtures {
	t.Helper()
	ctx := context.Background()
	// One artifact, several versions: each version is its own digest.
	digest := func(version string) string {
		sum := sha256.Sum256([]byte("guildhall:" + version))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	f := fixtures{digest: digest("v1.4.2"), template: "pages-release"}
	tpl, err := rules.ParseTemplate([]byte(`name: pages-release
description: Release an artifact to production after the staging soak.
kind: release
witnesses: {roles: [security, release]}
quorum: {threshold: 2, roles: {security: 1}, veto: [security], minAssurance: session}
deadline: 3d
openedBy: [initiator, release]`))
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range []int{1, 2} { // two versions
		tpl.Quorum.Threshold = th
		if _, _, err := stack.store.ApplyTemplate(ctx, tpl, ada); err != nil {
			t.Fatal(err)
		}
	}
	open := func(name, version, title string, deadline time.Duration, q contract.Quorum, ws ...contract.WitnessRef) string {
		spec := contract.Spec{ID: "web/pages-" + name, Kind: contract.KindRelease, Title: title,
			Description: "Promote the signed image to production after the staging soak.",
			Artifact: contract.Artifact{Name: "guildhall", Digest: digest(version),
				URI: "oci://registry.guildhall.test/guildhouse/guildhall:" + version},
			Initiator: ivy, Witnesses: ws, Quorum: q, Deadline: time.Now().Add(deadline).UTC(), Source: "web"}
		if _, err := stack.cer.Open(ctx, spec); err != nil {
			t.Fatal(err)
		}
		return spec.ID
	}
	sign := func(id, who string, d contract.Decision, comment string) {
		if _, err := stack.cer.Sign(ctx, id, contract.SignRequest{IdempotencyKey: "pages:" + id + ":" + who,
			WitnessID: who, Decision: d, Comment: comment, Via: "web"}); err != nil {
			t.Fatalf("%s signs %s: %v", who, id, err)
		}
	}
	signal := func(id, name string, payload any) {
		if err := stack.cer.Signal(ctx, id, name, payload); err != nil {
			t.Fatal(err)
		}
	}
	security := contract.Quorum{Threshold: 2, Roles: map[string]int{"security": 1}, Veto: []string{"security"}}
	three := []contract.WitnessRef{{ID: erin, Role: "security"}, {ID: finn, Role: "release"}, {ID: gwen, Role: "release"}}
	f.collecting = open("collecting", "v1.4.2", "Release guildhall v1.4.2 to production", 72*time.Hour, security, three...)
	sign(f.collecting, finn, contract.Approve, "Staging soak clean for 48 hours.")
	f.roleShort = open("role-short", "v1.4.2", "Release guildhall v1.4.2 (security still to sign)", 72*time.Hour, security, three...)
	sign(f.roleShort, finn, contract.Approve, "")
	sign(f.roleShort, gwen, contract.Approve, "")
	f.quorum = open("quorum", "v1.4.2", "Release guildhall v1.4.2 (quorum)", 72*time.Hour, security, three...)
	sign(f.quorum, erin, contract.Approve, "Provenance verified.")
	sign(f.quorum, finn, contract.Approve, "")
	f.sealed = open("sealed", "v1.4.1", "Release guildhall v1.4.1", 72*time.Hour, security, three...)
	sign(f.sealed, erin, contract.Approve, "")
	sign(f.sealed, finn, contract.Approve, "")
	signal(f.sealed, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "pages-sealed", Phase: "Sealed"})
	f.rejected = open("rejected", "v1.4.0", "Release guildhall v1.4.0", 72*time.Hour, security, three...)
	sign(f.rejected, finn, contract.Approve, "")
	sign(f.rejected, erin, contract.Reject, "The SBOM lists a library with a known critical CVE.")
	f.cancelled = open("cancelled", "v1.3.9", "Release guildhall v1.3.9", 72*time.Hour, security, three...)
	signal(f.cancelled, contract.SignalCancel, contract.Cancel{IdempotencyKey: "pages-cancelled", By: ivy, Reason: "superseded by v1.4.0"})
	f.expired = open("expired", "v1.3.8", "Release guildhall v1.3.8", 2*time.Second, security, three...)
	want := map[string]contract.Status{f.collecting: contract.StatusCollecting, f.roleShort: contract.StatusCollecting,
		f.quorum: contract.StatusQuorumReached, f.sealed: contract.StatusSealed, f.rejected: contract.StatusRejected,
		f.cancelled: contract.StatusCancelled, f.expired: contract.StatusExpired}
	for id, st := range want {
		testenv.Eventually(t, 20*time.Second, id+" "+string(st)+" in the Ops DB", func() bool {
			c, err := stack.store.GetCeremony(ctx, id)
			return err == nil && c.Status == string(st)
		})
	}
	f.intuneDigest = digest("v1.4.1")
	pilot := open("sealed-pilot", "v1.4.1", "Release guildhall v1.4.1 to the pilot ring", 72*time.Hour, security, three...)
	sign(pilot, erin, contract.Approve, "")
	sign(pilot, finn, contract.Approve, "")
	signal(pilot, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "pages-pilot", Phase: "Sealed"})
	testenv.Eventually(t, 20*time.Second, pilot+" sealed in the Ops DB", func() bool {
		c, err := stack.store.GetCeremony(ctx, pilot)
		return err == nil && c.Status == string(contract.StatusSealed)
	})
	intuneFixtures(t, f.sealed, pilot, f.intuneDigest)
	return f
}

// intuneFixtures records two Graph bridge deployments of one artifact as the
// worker would: one carried out, then found drifted; one refused by Graph.
func intuneFixtures(t *testing.T, deployed, failed, digest string) {
	t.Helper()
	ctx, now := context.Background(), time.Now()
	target := &contract.IntuneTarget{AppID: "0177548a-548a-0177-8a54-77018a547701", OnRevoke: contract.IntuneRevokeUninstall,
		Groups: []contract.IntuneGroup{{GroupID: "11111111-2222-3333-4444-555555555555", Intent: contract.IntuneRequired},
			{GroupID: "22222222-3333-4444-5555-666666666666", Intent: contract.IntuneAvailable}}}
	for _, id := range []string{deployed, failed} {
		if _, err := stack.store.RequestIntune(ctx, store.IntuneRequest{CeremonyID: id, Digest: digest, Target: target,
			Decision: contract.IntuneReleased, Cause: contract.IntuneCauseSealed, By: "substrate", Key: "pages-req-" + id, At: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := stack.store.RecordIntune(ctx, store.IntuneResult{CeremonyID: deployed, Decision: contract.IntuneReleased, Type: custody.TypeIntuneApplied,
		State: store.IntuneApplied, Key: "pages-try-1", At: now, Data: map[string]any{"decision": "released", "appName": "Guildhall agent",
			"changes": []map[string]string{{"text": "group 11111111-2222-3333-4444-555555555555: Intune has no assignment; the ceremony decided required"}}}}); err != nil {
		t.Fatal(err)
	}
	drift := []byte(`[{"kind":"intent","groupId":"11111111-2222-3333-4444-555555555555","from":"required","to":"available","text":"group 11111111-2222-3333-4444-555555555555: Intune has uninstall; the ceremony decided required"}]`)
	if _, err := stack.store.RecordIntuneCheck(ctx, store.IntuneCheck{CeremonyID: deployed, Drift: drift, Key: "pages-drift-1", At: now,
		Data: map[string]any{"decision": "released", "drift": json.RawMessage(drift)}}); err != nil {
		t.Fatal(err)
	}
	refusal := "graph assign: Graph refused the call (403 Forbidden): grant the app registration the application permission DeviceManagementApps.ReadWrite.All with admin consent"
	if err := stack.store.RecordIntune(ctx, store.IntuneResult{CeremonyID: failed, Decision: contract.IntuneReleased, Type: custody.TypeIntuneFailed,
		State: store.IntuneFailed, Error: refusal, Key: "pages-try-2", At: now,
		Data: map[string]any{"decision": "released", "error": refusal, "retryable": false}}); err != nil {
		t.Fatal(err)
	}
}
