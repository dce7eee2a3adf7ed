package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/oidctest"
	"github.com/guildhouse/guildhall/store"
)

// TestOIDCRolesFromGroups follows one newcomer through the identity provider's
// group changes: provisioned at the first login from a mapped group, a group
// added, a group removed (the role an admin gave stays), every group removed
// (and then they can no longer sign a ceremony that lists them with the role),
// deactivated (login refused); and an unmapped person, whom every page refuses.
func TestOIDCRolesFromGroups(t *testing.T) {
	p := oidctest.New(t)
	srv, app := newOIDCApp(t, p)
	ctx := context.Background()
	base := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	nia := oidctest.Person{Subject: "kc-nia", Email: "Nia@Example.org", Name: "Nia Newcomer", Groups: []string{"/guildhouse/security", "/guildhouse/unmapped"}}
	login := func(who oidctest.Person) *http.Client {
		t.Helper()
		p.Login(who)
		c, end, ok := loginThroughIdP(t, srv.URL)
		if !ok || end != "/ceremonies" {
			t.Fatalf("%s: login ended at %s, session %v", who.Subject, end, ok)
		}
		return c
	}
	roles := func(id string) (all, idp []string) {
		t.Helper()
		w, err := app.store.GetWitness(ctx, id)
		if err != nil {
			t.Fatalf("%s in the directory: %v", id, err)
		}
		return w.Roles, w.IdPRoles
	}

	// First login: provisioned under the verified e-mail, with the mapped role.
	c := login(nia)
	if all, idp := roles("nia@example.org"); !slices.Equal(all, []string{"security"}) || !slices.Equal(idp, []string{"security"}) {
		t.Fatalf("first login: roles %v, from the provider %v", all, idp)
	}
	w, _ := app.store.GetWitness(ctx, "nia@example.org")
	if w.DisplayName != "Nia Newcomer" || w.Email != "nia@example.org" || w.Identity == nil || *w.Identity != p.URL+" kc-nia" {
		t.Fatalf("provisioned as %+v", w)
	}
	// She may sign a ceremony that lists her as security.
	fake := app.cer.(*fakeCeremonies)
	spec := contract.Spec{ID: "web/groups", Kind: contract.KindRelease, Artifact: contract.Artifact{Name: "app", Digest: testDigest},
		Initiator: "ivy@example.org", Witnesses: []contract.WitnessRef{{ID: "nia@example.org", Role: "security"}, {ID: "bob@example.org", Role: "release"}},
		Quorum: contract.Quorum{Threshold: 1}, Deadline: time.Now().Add(48 * time.Hour).UTC()}
	if _, err := fake.Open(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if page := getPage(t, c, base+"/ceremonies/web/groups"); !strings.Contains(page, `id="sign-panel"`) {
		t.Fatal("a newcomer provisioned as security is not asked to sign the ceremony that lists her")
	}

	// A group added: the role follows.
	nia.Groups = append(nia.Groups, "/guildhouse/release")
	login(nia)
	if all, _ := roles("nia@example.org"); !slices.Equal(all, []string{"release", "security"}) {
		t.Fatalf("group added: %v", all)
	}
	// An admin gives her legal; then the release group goes: legal stays.
	if _, _, err := app.store.ChangeWitness(ctx, "nia@example.org", store.PersonChange{Roles: &[]string{"legal"}}, "ada@example.org"); err != nil {
		t.Fatal(err)
	}
	nia.Groups = []string{"/guildhouse/security"}
	login(nia)
	if all, idp := roles("nia@example.org"); !slices.Equal(all, []string{"legal", "security"}) || !slices.Equal(idp, []string{"security"}) {
		t.Fatalf("group removed: roles %v, from the provider %v", all, idp)
	}
	// Every group gone: no provider roles, and she cannot sign as security.
	nia.Groups = nil
	c = login(nia)
	if all, idp := roles("nia@example.org"); !slices.Equal(all, []string{"legal"}) || len(idp) != 0 {
		t.Fatalf("all groups removed: roles %v, from the provider %v", all, idp)
	}
	page := getPage(t, c, base+"/ceremonies/web/groups")
	if strings.Contains(page, `id="sign-panel"`) {
		t.Fatal("still asked to sign after losing the role")
	}
	signsBefore := fake.signCount()
	resp := postForm(t, c, base+"/ceremonies/web/groups/review", url.Values{"decision": {"approve"}, "key": {strings.Repeat("a", 32)}})
	if body := readAll(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "no longer holds that role") || fake.signCount() != signsBefore {
		t.Fatalf("signing without the role: %d, %d signs reached the workflow\n%s", resp.StatusCode, fake.signCount()-signsBefore, body)
	}

	// Deactivated: the login is refused with a page that says why.
	if _, _, err := app.store.SetWitnessActive(ctx, "nia@example.org", false, "ada@example.org", "left"); err != nil {
		t.Fatal(err)
	}
	p.Login(nia)
	_, code, _, ok := loginWithStatus(t, srv.URL)
	if ok || code != http.StatusForbidden {
		t.Fatalf("deactivated login: %d, session %v", code, ok)
	}

	// Unmapped: logged in, not added to the directory, and refused everywhere
	// with the reason.
	zed := login(oidctest.Person{Subject: "kc-zed", Email: "zed@example.org", Groups: []string{"/other/team"}})
	if _, err := app.store.GetWitness(ctx, "zed@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unmapped person provisioned: %v", err)
	}
	refusedNotInDirectory(t, zed, base+"/account")
	// Even a ceremony that lists them (by e-mail) is closed to them.
	zedSpec := spec
	zedSpec.ID, zedSpec.Witnesses = "web/zed", []contract.WitnessRef{{ID: "zed@example.org", Role: "security"}, {ID: "bob@example.org", Role: "release"}}
	if _, err := fake.Open(ctx, zedSpec); err != nil {
		t.Fatal(err)
	}
	refusedNotInDirectory(t, zed, base+"/ceremonies/web/zed")

	// An unverified e-mail is not used: the newcomer is known by the subject.
	login(oidctest.Person{Subject: "kc-uma", Email: "uma@example.org", EmailUnverified: true, Groups: []string{"/guildhouse/release"}})
	if w, err := app.store.GetWitness(ctx, "kc-uma"); err != nil || w.Email != "" {
		t.Fatalf("unverified e-mail: %+v %v", w, err)
	}

	// Someone else at the provider with Nia's e-mail does not become Nia.
	p.Login(oidctest.Person{Subject: "kc-impostor", Email: "nia@example.org", Groups: []string{"/guildhouse/admins"}})
	if _, code, _, ok := loginWithStatus(t, srv.URL); ok || code != http.StatusConflict {
		t.Fatalf("another identity with Nia's e-mail: %d, session %v", code, ok)
	}
}

// The session of someone not in the directory keeps its id out of it: an
// unmapped person whose e-mail is a witness's id bound to another identity
// does not become them.
func TestNotListedSessionNeverPicksUpARecord(t *testing.T) {
	p := oidctest.New(t)
	srv, _ := newOIDCApp(t, p)
	base := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	p.Login(oidctest.Person{Subject: "kc-alice", Email: "alice@example.org"})
	if _, _, ok := loginThroughIdP(t, srv.URL); !ok {
		t.Fatal("alice did not log in")
	}
	p.Login(oidctest.Person{Subject: "kc-other", Email: "alice@example.org"})
	c, _, ok := loginThroughIdP(t, srv.URL)
	if !ok {
		t.Fatal("the other login did not start a session")
	}
	if page := refusedNotInDirectory(t, c, base+"/account"); strings.Contains(page, `id="passkeys"`) {
		t.Fatalf("a second identity with alice's e-mail reads alice's account:\n%s", page)
	}
}

// refusedNotInDirectory asserts that c, logged in as someone the directory does
// not know, is refused u with requireReader's page: 403, "Not in the directory"
// and what to do. It returns the page.
func refusedNotInDirectory(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "Not in the directory") ||
		!strings.Contains(page, "not registered as a witness in Guildhall") {
		t.Fatalf("%s for someone not in the directory: %d, not the refusal that says why:\n%s", u, resp.StatusCode, page)
	}
	return page
}

func TestClaimValues(t *testing.T) {
	claims := map[string]any{
		"groups":                       []any{"/a", "/b", 3},
		"role":                         "solo",
		"realm_access":                 map[string]any{"roles": []any{"security"}},
		"https://example.org/groups":   []any{"x"},
		"https://example.org/not.here": nil,
	}
	for name, want := range map[string][]string{
		"groups": {"/a", "/b"}, "role": {"solo"}, "realm_access.roles": {"security"},
		"https://example.org/groups": {"x"}, "missing": nil, "realm_access.nope": nil, "groups.deeper": nil,
	} {
		if got := claimValues(claims, name); !slices.Equal(got, want) {
			t.Errorf("claimValues(%q) = %q, want %q", name, got, want)
		}
	}
}

func getPage(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, resp)
}

func postForm(t *testing.T, c *http.Client, u string, form url.Values) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
