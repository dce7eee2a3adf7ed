package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/oidctest"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
)

// TestAdminAddsAWitness: Ada opens the directory, adds Hana with a role she
// ticks and one she types, and finds her in the directory with both roles,
// each marked as given by an admin.
func TestAdminAddsAWitness(t *testing.T) {
	a := newUser(t, ada, false)
	a.do(chromedp.Click(chromedp.CSS(`header nav a[href="/admin/witnesses"]`)), chromedp.WaitVisible(chromedp.ID("directory-table")))
	a.do(chromedp.Click(chromedp.ID("add-witness")), chromedp.WaitVisible(chromedp.ID("person-form")))
	a.do(
		chromedp.SendKeys(chromedp.ID("id"), "hana@guildhall.test"),
		chromedp.SendKeys(chromedp.ID("name"), "Hana Holloway"),
		chromedp.SendKeys(chromedp.ID("email"), "hana@guildhall.test"),
		chromedp.Click(chromedp.ID("role-security")),
		chromedp.SendKeys(chromedp.ID("more_roles"), "legal"),
		chromedp.Click(chromedp.ID("save-person")),
		chromedp.WaitVisible(chromedp.ID("notice")),
	)
	a.shot("31-admin-added")
	if got := a.text("#person-id"); got != "hana@guildhall.test" {
		t.Fatalf("landed on %q", got)
	}
	// The directory finds her by a search, with her roles and their source.
	a.open("/admin/witnesses")
	a.do(
		chromedp.SendKeys(chromedp.ID("q"), "holloway"),
	)
	// Hana is in the unfiltered list too: mark it, so only the search's page matches.
	run(a, chromedp.Evaluate[bool](`document.body.dataset.unfiltered = "1"; true`))
	a.do(
		chromedp.Click(chromedp.CSS(`#directory-search button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`body:not([data-unfiltered]) tr[data-id="hana@guildhall.test"]`)),
	)
	rows := run(a, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#directory-table tbody tr")].map(r => r.dataset.id)`))
	roles := run(a, chromedp.Evaluate[[]string](`[...document.querySelectorAll('tr[data-id="hana@guildhall.test"] li[data-role]')].map(l => l.dataset.role + ":" + l.dataset.source)`))
	if !slices.Equal(rows, []string{"hana@guildhall.test"}) || !slices.Equal(roles, []string{"legal:admin", "security:admin"}) {
		t.Fatalf("search found %v with roles %v", rows, roles)
	}
	w, err := stack.store.GetWitness(context.Background(), "hana@guildhall.test")
	if err != nil || !slices.Equal(w.Roles, []string{"legal", "security"}) || w.DisplayName != "Hana Holloway" {
		t.Fatalf("in the directory: %+v %v", w, err)
	}
}

// adminPaths are the admin pages, and the forms a forged post targets.
var (
	adminPages = []string{"/admin/witnesses", "/admin/witnesses/new", "/admin/witnesses/" + erin, "/admin/templates", "/admin/templates/new"}
	adminPosts = []string{"/admin/witnesses/new", "/admin/witnesses/" + erin, "/admin/witnesses/" + finn + "/deactivate",
		"/admin/witnesses/" + finn + "/reactivate", "/admin/witnesses/" + finn + "/tell", "/admin/templates/new"}
)

// directorySnapshot is what an admin form could change.
func directorySnapshot(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	ws, err := stack.store.ListWitnesses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := stack.store.ListTemplates(ctx)
	b, _ := json.Marshal([]any{ws, ts})
	return string(b)
}

// TestNonAdminIsRefusedEverywhere: Erin, who is no admin, sees no Admin link;
// every admin page answers her 403 with a page that says why; posts forged
// from her own page to every admin form are refused the same way; and a page
// on another site that posts to an admin form in Ada's browser is refused as
// cross-site. Nothing changes.
func TestNonAdminIsRefusedEverywhere(t *testing.T) {
	before := directorySnapshot(t)
	e := newUser(t, erin, false)
	if n := run(e, chromedp.Evaluate[int](`document.querySelectorAll('header a[href^="/admin"]').length`)); n != 0 {
		t.Fatal("a non-admin sees the Admin link")
	}
	for _, p := range adminPages {
		resp := run(e, chromedp.NavigateResponse(stack.baseURL+p))
		if resp.Status != http.StatusForbidden || !strings.Contains(e.text("main"), "Admins only") {
			t.Errorf("GET %s as a non-admin: %d %q", p, resp.Status, e.text("main"))
		}
	}
	for _, p := range adminPosts {
		e.open("/")
		e.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
			const f = document.createElement("form");
			f.method = "post"; f.action = %q;
			for (const [k, v] of [["id", "mallory@guildhall.test"], ["role", "admin"], ["reason", "forged"], ["template", "name: forged"]]) {
				const i = document.createElement("input"); i.name = k; i.value = v; f.append(i);
			}
			document.body.append(f); f.submit();
		})()`, p)), chromedp.WaitVisible(chromedp.CSS("section.error")))
		if body := e.text("main"); !strings.Contains(body, "Admins only") {
			t.Errorf("forged POST %s: %q", p, body)
		}
	}
	e.shot("32-admin-refused")

	// Another site posts to the add form in the admin's browser.
	ln, err := net.Listen("tcp", "127.0.0.1:0") // 127.0.0.1 is another site than localhost
	if err != nil {
		t.Fatal(err)
	}
	evil := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><html><head><title>Quarterly report</title></head><body>
<form method="post" action="%s/admin/witnesses/new"><input type="hidden" name="id" value="mallory@guildhall.test">
<input type="hidden" name="role" value="admin"><button id="open" type="submit">Open the report</button></form></body></html>`, stack.baseURL)
	})}
	go func() { _ = evil.Serve(ln) }()
	t.Cleanup(func() { _ = evil.Close() })
	a := newUser(t, ada, false)
	a.do(chromedp.Navigate("http://"+ln.Addr().String()+"/"), chromedp.Click(chromedp.ID("open")), chromedp.WaitVisible(chromedp.CSS("section.error")))
	if body := a.text("main"); !strings.Contains(body, "came from another site") {
		t.Fatalf("a cross-site post to the admin's add form: %q", body)
	}
	if after := directorySnapshot(t); after != before {
		t.Fatalf("a refused request changed the directory or the templates:\nbefore %s\nafter  %s", before, after)
	}
}

// TestDeactivatedWitnessShownToInitiator: Ada deactivates Olive, who has not
// yet signed an open ceremony; the ceremony hears of it (its state flags her
// and asks for an operator's attention) and Ivy, who opened it, sees it on the
// ceremony's page.
func TestDeactivatedWitnessShownToInitiator(t *testing.T) {
	ctx := context.Background()
	if _, err := stack.store.AddWitness(ctx, store.NewPerson{ID: "olive@guildhall.test", DisplayName: "Olive Oakes", Email: "olive@guildhall.test", Roles: []string{"release"}}, "test"); err != nil {
		t.Fatal(err)
	}
	id := openDirect(t, "deactivated", contract.WitnessRef{ID: "olive@guildhall.test", Role: "release"}, contract.WitnessRef{ID: finn, Role: "release"})
	testenv.Eventually(t, 20*time.Second, "the ceremony in the Ops DB", func() bool {
		_, err := stack.store.GetCeremony(ctx, id)
		return err == nil
	})
	a := newUser(t, ada, false)
	a.open("/admin/witnesses/olive@guildhall.test")
	a.do(chromedp.WaitVisible(chromedp.CSS(`#open-ceremonies a[href="/ceremonies/` + id + `"]`)))
	a.do(
		chromedp.SendKeys(chromedp.ID("reason"), "On leave until March."),
		chromedp.Click(chromedp.ID("deactivate-person")),
		chromedp.WaitVisible(chromedp.ID("notice")),
	)
	if got := a.text("#notice"); !strings.Contains(got, "Deactivated") || !strings.Contains(got, "1 open ceremony that lists them was told") {
		t.Fatalf("notice: %q", got)
	}
	testenv.Eventually(t, 20*time.Second, "the ceremony flags Olive", func() bool {
		st, err := stack.cer.Status(ctx, id)
		return err == nil && slices.Equal(st.Deactivated, []string{"olive@guildhall.test"}) && st.Attention == contract.AttentionWitnessDeactivated
	})
	initiator := newUser(t, ivy, false)
	initiator.open("/ceremonies/" + id)
	initiator.do(chromedp.WaitVisible(chromedp.ID("deactivated-notice")))
	if got := initiator.text("#deactivated-notice"); !strings.Contains(got, "Olive Oakes is deactivated") {
		t.Fatalf("the initiator's notice: %q", got)
	}
	if got := initiator.text(`#pending li[data-witness="olive@guildhall.test"]`); !strings.Contains(got, "deactivated") {
		t.Fatalf("pending list: %q", got)
	}
	initiator.shot("33-initiator-sees-deactivated")
}

// newOIDCUser logs a person in through the identity provider, in a browser
// context of their own.
func newOIDCUser(t *testing.T, who oidctest.Person) *user {
	t.Helper()
	u := newUserAnon(t)
	u.id = who.Email
	stack.idp.Login(who)
	u.open("/login")
	u.do(chromedp.Click(chromedp.ID("oidc-login")), chromedp.WaitVisible(chromedp.ID("whoami")))
	return u
}

// TestOIDCNewcomerSignsAndLosesTheGroup: Nia has never used Guildhall; her
// identity provider puts her in the security group. She logs in, is added to
// the directory with the security role, and signs a ceremony that lists her as
// security. Then she leaves the group: at her next login the role is gone and
// she cannot read; given reading by an admin, the next ceremony does not ask
// her to sign and says why, and a post forged from her page is refused.
func TestOIDCNewcomerSignsAndLosesTheGroup(t *testing.T) {
	ctx := context.Background()
	const niaID = "nia@guildhall.test"
	nia := oidctest.Person{Subject: "kc-nia-4711", Email: niaID, Name: "Nia Newcomer", Groups: []string{"/guildhouse/security"}}
	first := openDirect(t, "newcomer", contract.WitnessRef{ID: niaID, Role: "security"}, contract.WitnessRef{ID: finn, Role: "release"})
	second := openDirect(t, "newcomer-2", contract.WitnessRef{ID: niaID, Role: "security"}, contract.WitnessRef{ID: finn, Role: "release"})

	u := newOIDCUser(t, nia)
	if got := u.text("#whoami"); got != "Nia Newcomer" {
		t.Fatalf("logged in as %q", got)
	}
	w, err := stack.store.GetWitness(ctx, niaID)
	if err != nil || !slices.Equal(w.IdPRoles, []string{"security"}) {
		t.Fatalf("provisioned: %+v %v", w, err)
	}
	u.open("/ceremonies/" + first)
	u.do(
		chromedp.WaitVisible(chromedp.ID("sign-panel")),
		chromedp.Click(chromedp.ID("decision-approve")),
		chromedp.SendKeys(chromedp.ID("comment"), "Reviewed the threat model."),
		chromedp.Click(chromedp.ID("sign-submit")),
		chromedp.WaitVisible(chromedp.ID("confirm-sign")),
		chromedp.Click(chromedp.ID("confirm-sign")),
		chromedp.WaitVisible(chromedp.ID("my-signature")),
	)
	st, err := stack.cer.Status(ctx, first)
	if err != nil || len(st.Signatures) != 1 || st.Signatures[0].WitnessID != niaID || !slices.Contains(st.Signatures[0].HeldRoles, "security") {
		t.Fatalf("Nia's signature: %+v %v", st.Signatures, err)
	}

	// She leaves the group; her next login takes the role away.
	nia.Groups = []string{}
	stack.idp.Login(nia)
	u.do(chromedp.Click(chromedp.CSS(`header form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.ID("logged-out")))
	u.do(chromedp.Click(chromedp.ID("oidc-login")), chromedp.WaitVisible(chromedp.ID("whoami")))
	if w, _ := stack.store.GetWitness(ctx, niaID); len(w.IdPRoles) != 0 || len(w.Roles) != 0 {
		t.Fatalf("after leaving the group: %+v", w)
	}
	// With no role left she cannot even read; the page says why.
	u.open("/ceremonies/" + second)
	if got := u.text("main"); !strings.Contains(got, "hold no role") {
		t.Fatalf("without a role: %q", got)
	}
	// An admin lets her read: the ceremony still lists her as security, which
	// she no longer is.
	reader := []string{rules.RoleReader}
	if _, _, err := stack.store.ChangeWitness(ctx, niaID, store.PersonChange{Roles: &reader}, ada); err != nil {
		t.Fatal(err)
	}
	u.open("/ceremonies/" + second)
	u.do(chromedp.WaitVisible(chromedp.ID("cannot-sign")))
	if n := run(u, chromedp.Evaluate[int](`document.querySelectorAll("#sign-panel, #sign-form").length`)); n != 0 {
		t.Fatal("still asked to sign without the role")
	}
	if got := u.text("#cannot-sign"); !strings.Contains(got, "no longer holds that role") {
		t.Fatalf("why she cannot sign: %q", got)
	}
	u.shot("34-lost-the-group")
	u.do(chromedp.Evaluate[chromedp.Void](`(() => {
		const f = document.createElement("form");
		f.method = "post"; f.action = location.pathname + "/review";
		for (const [k, v] of [["decision", "approve"], ["key", "ab".repeat(16)]]) {
			const i = document.createElement("input"); i.name = k; i.value = v; f.append(i);
		}
		document.body.append(f); f.submit();
	})()`), chromedp.WaitVisible(chromedp.CSS("section.error")))
	if body := u.text("main"); !strings.Contains(body, "no longer holds that role") {
		t.Fatalf("forged sign post: %q", body)
	}
	if st, _ := stack.cer.Status(ctx, second); len(st.Signatures) != 0 {
		t.Fatalf("a signature without the role was accepted: %+v", st.Signatures)
	}
}
