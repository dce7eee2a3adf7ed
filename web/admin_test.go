package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

const ada = "ada@example.org" // the admin of these tests

func newAdminHarness(t *testing.T) *harness {
	t.Helper()
	st := storetest.SQLite(t)
	seedWitnesses(t, st)
	if err := st.EnsureWitness(context.Background(), store.NewPerson{ID: ada, DisplayName: "Ada Archer", Email: ada, Roles: []string{"admin"}}, "test"); err != nil {
		t.Fatal(err)
	}
	return startHarness(t, st)
}

// snapshot is everything an admin form or API call could change.
func (h *harness) snapshot() string {
	h.t.Helper()
	ctx := context.Background()
	ws, err := h.st.ListWitnesses(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	ts, _ := h.st.ListTemplates(ctx)
	head, _ := h.st.ChainHead(ctx)
	b, _ := json.Marshal([]any{ws, ts, head.Seq})
	return string(b)
}

// adminForms are every admin form post, with a body that would change
// something if it were accepted.
func adminForms() map[string]url.Values {
	return map[string]url.Values{
		"/admin/witnesses/new":                        {"id": {"mallory@example.org"}, "role": {"admin"}},
		"/admin/witnesses/bob@example.org":            {"name": {"Bobby"}, "role": {"admin"}},
		"/admin/witnesses/bob@example.org/deactivate": {"reason": {"because"}},
		"/admin/witnesses/ada@example.org/deactivate": {"reason": {"because"}},
		"/admin/witnesses/bob@example.org/reactivate": {},
		"/admin/witnesses/bob@example.org/tell":       {},
		"/admin/templates/new":                        {"template": {templateText("forged", 1)}},
		"/admin/templates/release":                    {"template": {templateText("release", 1)}},
	}
}

func templateText(name string, threshold int) string {
	return fmt.Sprintf("name: %s\nkind: release\nwitnesses:\n  roles: [security]\nquorum:\n  threshold: %d\nopenedBy: [release]\n", name, threshold)
}

// TestAdminRefusesNonAdmins: every admin page and form, and every admin API
// call, refuses someone without the admin role (and someone not logged in),
// and changes nothing; a forged cross-site post by an admin is refused too.
func TestAdminRefusesNonAdmins(t *testing.T) {
	h := newAdminHarness(t)
	ctx := context.Background()
	if _, _, err := h.st.ApplyTemplate(ctx, mustTemplate(t, templateText("release", 1)), ada); err != nil {
		t.Fatal(err)
	}
	before := h.snapshot()
	alice := h.client("alice@example.org")
	for _, p := range []string{"/admin", "/admin/witnesses", "/admin/witnesses?q=bob", "/admin/witnesses/new", "/admin/witnesses/bob@example.org",
		"/admin/templates", "/admin/templates/new", "/admin/templates/release", "/admin/templates/release?version=1"} {
		resp, body := h.get(alice, p)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Admins only") {
			t.Errorf("GET %s as a non-admin: %d", p, resp.StatusCode)
		}
		if resp, _ := h.get(h.client(""), p); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("GET %s logged out: %d %s", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	for p, form := range adminForms() {
		resp := h.post(alice, p, form)
		if body := readAll(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Admins only") {
			t.Errorf("POST %s as a non-admin: %d", p, resp.StatusCode)
		}
	}
	// The admin, from another site: refused before anything else.
	admin := h.client(ada)
	for p, form := range adminForms() {
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+p, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := admin.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "came from another site") {
			t.Errorf("cross-site POST %s by the admin: %d", p, resp.StatusCode)
		}
	}
	// The API: a non-admin's token.
	tok := h.token(t, "alice@example.org")
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/witnesses", ""}, {"GET", "/api/v1/witnesses/bob@example.org", ""},
		{"POST", "/api/v1/witnesses", `{"id":"mallory@example.org","roles":["admin"]}`},
		{"PATCH", "/api/v1/witnesses/alice@example.org", `{"roles":["admin"]}`},
		{"POST", "/api/v1/witnesses/bob@example.org/deactivate", `{"reason":"x"}`},
		{"POST", "/api/v1/witnesses/bob@example.org/reactivate", ``},
		{"GET", "/api/v1/templates", ""}, {"GET", "/api/v1/templates/release", ""},
		{"PUT", "/api/v1/templates/release", `{"kind":"release","witnesses":{"roles":["x"]},"quorum":{"threshold":1},"openedBy":["x"]}`},
	} {
		resp, p := apiCall(t, h, c.method, c.path, tok, c.body)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Content-Type") != "application/problem+json" || p["title"] != "admins only" {
			t.Errorf("%s %s with a non-admin token: %d %v", c.method, c.path, resp.StatusCode, p)
		}
	}
	if after := h.snapshot(); after != before {
		t.Fatalf("a refused request changed the directory, the templates or the chain:\nbefore %s\nafter  %s", before, after)
	}
	if len(h.fake.signals) != 0 {
		t.Fatalf("a refused request sent %d signals", len(h.fake.signals))
	}
}

func mustTemplate(t *testing.T, text string) rules.Template {
	t.Helper()
	tpl, err := rules.ParseTemplate([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func apiCall(t *testing.T, h *harness, method, path, token, body string) (*http.Response, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, h.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

// TestAdminDirectoryPages: the admin adds a person with roles, finds them,
// edits them, deactivates them (the open ceremony that lists them is told, and
// their session and token stop at once), and reactivates them.
func TestAdminDirectoryPages(t *testing.T) {
	h := newAdminHarness(t)
	ctx := context.Background()
	admin := h.client(ada)

	// The nav shows Admin to admins only.
	if _, body := h.get(admin, "/"); !strings.Contains(body, `href="/admin/witnesses"`) {
		t.Error("no Admin link for the admin")
	}
	if _, body := h.get(h.client("alice@example.org"), "/"); strings.Contains(body, `href="/admin/witnesses"`) {
		t.Error("an Admin link for a non-admin")
	}

	// Refused: every problem named at its field, the form kept as typed.
	resp := h.post(admin, "/admin/witnesses/new", url.Values{"id": {"nia example"}, "name": {"Nia"}, "email": {"nia@"}, "more_roles": {"Release Managers"}})
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="error-summary"`) ||
		!strings.Contains(body, `id="err-id"`) || !strings.Contains(body, `id="err-email"`) || !strings.Contains(body, `id="err-roles"`) ||
		!strings.Contains(body, `value="Release Managers"`) {
		t.Fatalf("refused add: %d\n%s", resp.StatusCode, body)
	}
	resp = h.post(admin, "/admin/witnesses/new", url.Values{"id": {"bob@example.org"}})
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "already in the directory") {
		t.Fatalf("existing id: %d", resp.StatusCode)
	}

	// Added, with a ticked role and a typed one.
	resp = h.post(admin, "/admin/witnesses/new", url.Values{"id": {"nia@example.org"}, "name": {"Nia Newcomer"}, "email": {"nia@example.org"},
		"role": {"security"}, "more_roles": {"legal"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/witnesses/nia@example.org?done=added" {
		t.Fatalf("add: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), readAll(t, resp))
	}
	nia, err := h.st.GetWitness(ctx, "nia@example.org")
	if err != nil || !slices.Equal(nia.AdminRoles, []string{"legal", "security"}) || nia.DisplayName != "Nia Newcomer" {
		t.Fatalf("added: %+v %v", nia, err)
	}
	_, body = h.get(admin, "/admin/witnesses/nia@example.org?done=added")
	if !strings.Contains(body, "Added to the directory") || !strings.Contains(body, "given by an admin") {
		t.Fatalf("person page after adding:\n%s", body)
	}
	// The custody chain names who added her.
	if ev := lastEvent(t, h, custody.TypeWitnessAdded); !strings.Contains(ev.Body, `"by":"ada@example.org"`) || !strings.Contains(ev.Body, "nia@example.org") {
		t.Fatalf("custody event: %s", ev.Body)
	}

	// The directory lists and finds her, with each role's source apart.
	_, body = h.get(admin, "/admin/witnesses")
	if row := rowOf(t, body, "nia@example.org"); !strings.Contains(row, "Nia Newcomer") || !strings.Contains(row, `data-source="admin"`) {
		t.Fatalf("directory row: %s", row)
	}
	for q, want := range map[string][]string{
		"?q=newcomer":               {"nia@example.org"},
		"?q=NIA+security":           {"nia@example.org"},
		"?role=release":             {"bob@example.org", "carol@example.org", "ivy@example.org"},
		"?role=legal&state=active":  {"nia@example.org"},
		"?q=nobody-has-this":        nil,
		"?state=deactivated":        nil,
		"?q=example.org&role=admin": {ada},
	} {
		_, body := h.get(admin, "/admin/witnesses"+q)
		var got []string
		for _, id := range []string{ada, "alice@example.org", "bob@example.org", "carol@example.org", "ivy@example.org", "nia@example.org"} {
			if strings.Contains(body, `data-id="`+id+`"`) {
				got = append(got, id)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("search %s: %v, want %v", q, got, want)
		}
	}

	// Provider roles are shown apart and not an admin's to remove.
	if _, err := h.st.SyncIdentity(ctx, store.Identity{Issuer: "https://id.example", Subject: "kc-nia", Email: "nia@example.org"}, []string{"release"}, true); err != nil {
		t.Fatal(err)
	}
	resp = h.post(admin, "/admin/witnesses/nia@example.org", url.Values{"name": {"Nia N."}, "email": {"nia@example.org"}, "role": {"security"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "?done=saved") {
		t.Fatalf("edit: %d %s", resp.StatusCode, readAll(t, resp))
	}
	nia, _ = h.st.GetWitness(ctx, "nia@example.org")
	if !slices.Equal(nia.Roles, []string{"release", "security"}) || !slices.Equal(nia.AdminRoles, []string{"security"}) || nia.DisplayName != "Nia N." {
		t.Fatalf("after the edit: %+v", nia)
	}
	_, body = h.get(admin, "/admin/witnesses/nia@example.org")
	if !strings.Contains(body, `id="idp-roles"`) || !strings.Contains(body, "from the identity provider") {
		t.Fatalf("provider roles not shown apart:\n%s", body)
	}
	resp = h.post(admin, "/admin/witnesses/nia@example.org", url.Values{"name": {"Nia N."}, "email": {"nia@example.org"}, "role": {"security"}})
	if !strings.HasSuffix(resp.Header.Get("Location"), "?done=unchanged") {
		t.Fatalf("saving nothing: %s", resp.Header.Get("Location"))
	}
	// The last admin keeps the role.
	resp = h.post(admin, "/admin/witnesses/"+ada, url.Values{"name": {"Ada"}, "email": {ada}})
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "last active admin") {
		t.Fatalf("the last admin's role removed: %d", resp.StatusCode)
	}

	// Deactivate: a reason is needed; then the open ceremony listing her is
	// told, her session ends at once and her token stops.
	spec := contract.Spec{ID: "web/dir", Kind: contract.KindRelease, Artifact: contract.Artifact{Name: "app", Digest: testDigest},
		Initiator: "ivy@example.org", Witnesses: []contract.WitnessRef{{ID: "nia@example.org", Role: "security"}, {ID: "bob@example.org", Role: "release"}},
		Quorum: contract.Quorum{Threshold: 1}, Deadline: time.Now().Add(48 * time.Hour).UTC()}
	if _, err := h.fake.Open(ctx, spec); err != nil {
		t.Fatal(err)
	}
	niaSession := h.client("nia@example.org")
	niaToken := h.token(t, "nia@example.org")
	resp = h.post(admin, "/admin/witnesses/nia@example.org/deactivate", url.Values{"reason": {" "}})
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="err-reason"`) {
		t.Fatalf("deactivate without a reason: %d", resp.StatusCode)
	}
	resp = h.post(admin, "/admin/witnesses/nia@example.org/deactivate", url.Values{"reason": {"left the company"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/admin/witnesses/nia@example.org?done=deactivated&told=1&missed=0" {
		t.Fatalf("deactivate: %d %s", resp.StatusCode, loc)
	}
	if len(h.fake.signals) != 1 || h.fake.signals[0].ID != "web/dir" || h.fake.signals[0].Name != contract.SignalDirectoryChanged {
		t.Fatalf("signals: %+v", h.fake.signals)
	}
	if m := h.fake.signals[0].Payload.(contract.DirectoryChanged); !m.Deactivated || m.WitnessID != "nia@example.org" || m.By != ada {
		t.Fatalf("directory-changed: %+v", m)
	}
	if ev := lastEvent(t, h, custody.TypeWitnessDeactivated); !strings.Contains(ev.Body, "left the company") || !strings.Contains(ev.Body, `"by":"ada@example.org"`) {
		t.Fatalf("custody: %s", ev.Body)
	}
	resp, body = h.get(niaSession, "/")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Access withdrawn") {
		t.Fatalf("a deactivated person's session: %d", resp.StatusCode)
	}
	if resp, p := apiCall(t, h, "GET", "/api/v1/ceremonies", niaToken, ""); resp.StatusCode != http.StatusForbidden || p["title"] != "deactivated" {
		t.Fatalf("a deactivated person's token: %d %v", resp.StatusCode, p)
	}
	if resp := h.post(h.client(""), "/login/dev", url.Values{"witness": {"nia@example.org"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dev login of a deactivated person: %d", resp.StatusCode)
	}
	if _, body := h.get(h.client(""), "/login"); strings.Contains(body, `value="nia@example.org"`) {
		t.Fatal("the dev login still offers a deactivated person")
	}
	// The initiator's page says so, from the directory.
	_, body = h.get(h.client("ivy@example.org"), "/ceremonies/web/dir")
	if !strings.Contains(body, `id="deactivated-notice"`) || !strings.Contains(body, "st-deactivated") {
		t.Fatalf("the initiator's page does not show the deactivated witness:\n%s", body)
	}

	// Temporal unreachable: the reactivation stands, and the page says what was missed.
	h.fake.down = true
	resp = h.post(admin, "/admin/witnesses/nia@example.org/reactivate", url.Values{})
	if loc := resp.Header.Get("Location"); loc != "/admin/witnesses/nia@example.org?done=reactivated&told=0&missed=1" {
		t.Fatalf("reactivate with Temporal down: %s", loc)
	}
	if w, _ := h.st.GetWitness(ctx, "nia@example.org"); !w.Active() {
		t.Fatal("the reactivation did not stand")
	}
	_, body = h.get(admin, "/admin/witnesses/nia@example.org?done=reactivated&told=0&missed=1")
	if !strings.Contains(body, `id="not-told"`) || !strings.Contains(body, "could not be told") {
		t.Fatalf("no word of the missed ceremony:\n%s", body)
	}
	h.fake.down = false
	resp = h.post(admin, "/admin/witnesses/nia@example.org/tell", url.Values{})
	if loc := resp.Header.Get("Location"); loc != "/admin/witnesses/nia@example.org?done=told&told=1&missed=0" {
		t.Fatalf("tell again: %s", loc)
	}
	if m := h.fake.signals[len(h.fake.signals)-1].Payload.(contract.DirectoryChanged); m.Deactivated {
		t.Fatalf("told again: %+v", m)
	}
	// Her old session ended with the deactivation; she logs in again.
	if resp, _ := h.get(niaSession, "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the session ended by the deactivation: %d", resp.StatusCode)
	}
	if resp, _ := h.get(h.client("nia@example.org"), "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a reactivated person logs in again: %d", resp.StatusCode)
	}
	// Admins cannot deactivate themselves.
	resp = h.post(admin, "/admin/witnesses/"+ada+"/deactivate", url.Values{"reason": {"bye"}})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("self-deactivation: %d", resp.StatusCode)
	}
	if resp, _ := h.get(admin, "/admin/witnesses/nobody@example.org"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown person: %d", resp.StatusCode)
	}
	// An identity provider's subject may hold a "/": it travels escaped.
	if _, err := h.st.AddWitness(ctx, store.NewPerson{ID: "tenant/kc-7", DisplayName: "Odd Id"}, "test"); err != nil {
		t.Fatal(err)
	}
	_, body = h.get(admin, "/admin/witnesses")
	if !strings.Contains(body, `href="/admin/witnesses/tenant%2Fkc-7"`) {
		t.Fatal("the directory does not link the escaped id")
	}
	if resp, body := h.get(admin, "/admin/witnesses/tenant%2Fkc-7"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Odd Id") {
		t.Fatalf("a person with a slash in the id: %d", resp.StatusCode)
	}
	if resp := h.post(admin, "/admin/witnesses/tenant%2Fkc-7", url.Values{"name": {"Odd"}}); resp.StatusCode != http.StatusSeeOther ||
		resp.Header.Get("Location") != "/admin/witnesses/tenant%2Fkc-7?done=saved" {
		t.Fatalf("saving a person with a slash in the id: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func lastEvent(t *testing.T, h *harness, typ string) store.CustodyEvent {
	t.Helper()
	evs, err := h.st.ListCustody(context.Background(), store.CustodyFilter{Types: []string{typ}, Limit: 1})
	if err != nil || len(evs) == 0 {
		t.Fatalf("no %s event: %v", typ, err)
	}
	return evs[0]
}

// TestAdminTemplatePages: write a template, refused with its problems by
// field, saved as version 1, edited to version 2, saved unchanged, an old
// version viewed; its name stays.
func TestAdminTemplatePages(t *testing.T) {
	h := newAdminHarness(t)
	admin := h.client(ada)
	if resp, body := h.get(admin, "/admin/templates"); resp.StatusCode != 200 || !strings.Contains(body, `id="no-templates"`) {
		t.Fatalf("empty list: %d", resp.StatusCode)
	}
	if _, body := h.get(admin, "/admin/templates/new"); !strings.Contains(body, "name: change-me") {
		t.Fatal("no starter text")
	}
	resp := h.post(admin, "/admin/templates/new", url.Values{"template": {"name: Release\nkind: launch\nquorum:\n  threshold: 0\n"}})
	body := readAll(t, resp)
	for _, f := range []string{"name", "kind", "witnesses", "quorum.threshold", "openedBy"} {
		if !strings.Contains(body, `data-field="`+f+`"`) {
			t.Errorf("refused template: no problem on %s", f)
		}
	}
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "kind: launch") {
		t.Fatalf("refused template: %d\n%s", resp.StatusCode, body)
	}
	resp = h.post(admin, "/admin/templates/new", url.Values{"template": {"name: release\nquorum:\n  treshold: 2\n"}})
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "treshold") {
		t.Fatalf("unknown field: %d\n%s", resp.StatusCode, body)
	}
	resp = h.post(admin, "/admin/templates/new", url.Values{"template": {templateText("release", 1)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/templates/release?done=saved" {
		t.Fatalf("new template: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), readAll(t, resp))
	}
	resp = h.post(admin, "/admin/templates/new", url.Values{"template": {templateText("release", 2)}})
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "exists: edit it instead") {
		t.Fatalf("a second new template with the name: %d", resp.StatusCode)
	}
	// Edited from its page: version 2; the same again changes nothing.
	text := strings.Replace(templateText("release", 2), "name: release\n", "", 1) // the name may be left out
	resp = h.post(admin, "/admin/templates/release", url.Values{"template": {text}})
	if resp.Header.Get("Location") != "/admin/templates/release?done=saved" {
		t.Fatalf("edit: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = h.post(admin, "/admin/templates/release", url.Values{"template": {templateText("release", 2)}})
	if resp.Header.Get("Location") != "/admin/templates/release?done=unchanged" {
		t.Fatalf("unchanged: %s", resp.Header.Get("Location"))
	}
	resp = h.post(admin, "/admin/templates/release", url.Values{"template": {templateText("other", 2)}})
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "its name stays") {
		t.Fatalf("renamed: %d", resp.StatusCode)
	}
	_, body = h.get(admin, "/admin/templates/release?done=saved")
	if !strings.Contains(body, "version 2 of 2") || !strings.Contains(body, "Saved as version 2") || !strings.Contains(body, "2 approvals") {
		t.Fatalf("template page:\n%s", body)
	}
	_, body = h.get(admin, "/admin/templates/release?version=1")
	if !strings.Contains(body, `id="old-version"`) || !strings.Contains(body, "1 approval;") && !strings.Contains(body, "1 approval<") {
		t.Fatalf("version 1:\n%s", body)
	}
	if resp, _ := h.get(admin, "/admin/templates/release?version=9"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("no version 9: %d", resp.StatusCode)
	}
	if resp, _ := h.get(admin, "/admin/templates/nope"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("no template: %d", resp.StatusCode)
	}
	_, body = h.get(admin, "/admin/templates")
	if !strings.Contains(body, `data-name="release"`) || !strings.Contains(body, "v2") {
		t.Fatalf("list:\n%s", body)
	}
	if ev := lastEvent(t, h, custody.TypeTemplateApplied); !strings.Contains(ev.Body, `"by":"ada@example.org"`) || !strings.Contains(ev.Body, `"version":2`) {
		t.Fatalf("custody: %s", ev.Body)
	}
}

// TestAdminAPI: the directory and the templates through the JSON API.
func TestAdminAPI(t *testing.T) {
	h := newAdminHarness(t)
	tok := h.token(t, ada)
	call := func(method, path, body string, want int) map[string]any {
		t.Helper()
		resp, out := apiCall(t, h, method, path, tok, body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d: %v", method, path, resp.StatusCode, want, out)
		}
		if want >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s %s: %s, want a problem document", method, path, resp.Header.Get("Content-Type"))
		}
		return out
	}
	out := call("POST", "/api/v1/witnesses", `{"id":"nia@example.org","name":"Nia","email":"nope","roles":["Security"]}`, 422)
	if errs, _ := out["errors"].(map[string]any); errs["email"] == nil || errs["roles"] == nil {
		t.Fatalf("field errors: %v", out)
	}
	call("POST", "/api/v1/witnesses", `{"id":"nia@example.org","nmae":"typo"}`, 400)
	out = call("POST", "/api/v1/witnesses", `{"id":"nia@example.org","name":"Nia","email":"nia@example.org","roles":["security"]}`, 201)
	if out["state"] != "active" || fmt.Sprint(out["roles"]) != "[map[role:security source:admin]]" {
		t.Fatalf("created: %v", out)
	}
	call("POST", "/api/v1/witnesses", `{"id":"nia@example.org"}`, 409)
	out = call("GET", "/api/v1/witnesses?q=nia", "", 200)
	if out["total"] != float64(1) {
		t.Fatalf("search: %v", out)
	}
	out = call("PATCH", "/api/v1/witnesses/nia@example.org", `{"roles":["security","legal"]}`, 200)
	if fmt.Sprint(out["adminRoles"]) != "[legal security]" || out["name"] != "Nia" {
		t.Fatalf("patched: %v", out)
	}
	call("PATCH", "/api/v1/witnesses/"+ada, `{"roles":[]}`, 422)
	call("PATCH", "/api/v1/witnesses/nobody@example.org", `{"name":"x"}`, 404)
	call("POST", "/api/v1/witnesses/nia@example.org/deactivate", `{}`, 422)
	out = call("POST", "/api/v1/witnesses/nia@example.org/deactivate", `{"reason":"left"}`, 200)
	if w := out["witness"].(map[string]any); w["state"] != "deactivated" || out["changed"] != true {
		t.Fatalf("deactivated: %v", out)
	}
	out = call("GET", "/api/v1/witnesses/nia@example.org", "", 200)
	if out["witness"].(map[string]any)["state"] != "deactivated" {
		t.Fatalf("get: %v", out)
	}
	call("POST", "/api/v1/witnesses/nia@example.org/reactivate", "", 200)

	call("GET", "/api/v1/templates/release", "", 404)
	call("PUT", "/api/v1/templates/release", `{"kind":"release","witnesses":{"roles":["security"]},"quorum":{"threshold":0},"openedBy":["release"]}`, 422)
	out = call("PUT", "/api/v1/templates/release", `{"name":"other","kind":"release","witnesses":{"roles":["security"]},"quorum":{"threshold":1},"openedBy":["release"]}`, 422)
	if errs, _ := out["errors"].(map[string]any); errs == nil || !strings.Contains(fmt.Sprint(errs["name"]), "its name stays") {
		t.Fatalf("a body naming another template: %v", out)
	}
	out = call("PUT", "/api/v1/templates/release", `{"kind":"release","witnesses":{"roles":["security"]},"quorum":{"threshold":1},"openedBy":["release"]}`, 200)
	if out["version"] != float64(1) || out["changed"] != true {
		t.Fatalf("put: %v", out)
	}
	out = call("PUT", "/api/v1/templates/release", `{"kind":"release","witnesses":{"roles":["security"]},"quorum":{"threshold":1},"openedBy":["release"]}`, 200)
	if out["version"] != float64(1) || out["changed"] != false {
		t.Fatalf("put again: %v", out)
	}
	call("PUT", "/api/v1/templates/release", `{"kind":"release","witnesses":{"roles":["security"]},"quorum":{"threshold":2},"openedBy":["release"]}`, 200)
	out = call("GET", "/api/v1/templates/release?version=1", "", 200)
	if tpl := out["template"].(map[string]any); tpl["version"] != float64(1) || fmt.Sprint(out["versions"]) != "[2 1]" {
		t.Fatalf("get v1: %v", out)
	}
	call("GET", "/api/v1/templates/release?version=9", "", 404)
	call("GET", "/api/v1/templates/release?version=x", "", 400)
	out = call("GET", "/api/v1/templates", "", 200)
	if items := out["items"].([]any); len(items) != 1 || items[0].(map[string]any)["version"] != float64(2) {
		t.Fatalf("list: %v", out)
	}
}
