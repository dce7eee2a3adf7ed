package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

type fakeJobs struct {
	mu   sync.Mutex
	jobs []contract.IntuneJob
}

func (f *fakeJobs) StartIntune(_ context.Context, job contract.IntuneJob) (ceremonyclient.IntuneRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs = append(f.jobs, job)
	return ceremonyclient.IntuneRun{WorkflowID: contract.IntuneWorkflowID(job.CeremonyID, job.Decision)}, nil
}

const (
	testApp   = "0177548a-548a-0177-8a54-77018a547701"
	testGroup = "11111111-2222-3333-4444-555555555555"
)

// The artifact page shows a deployment, its drift and its history in words;
// only an admin gets (and may use) the re-apply button; the dashboard lists
// the drifted deployment for operators.
func TestIntuneOnTheArtifactPage(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	ctx := context.Background()
	if err := h.st.EnsureWitness(ctx, store.NewPerson{ID: "ada@example.org", DisplayName: "Ada", Roles: []string{"admin"}}, "test"); err != nil {
		t.Fatal(err)
	}
	jobs := &fakeJobs{}
	h.app.intune = jobs
	id := openCeremony(t, h, "intune-page")
	target := contract.IntuneTarget{AppID: testApp, OnRevoke: contract.IntuneRevokeRemove,
		Groups: []contract.IntuneGroup{{GroupID: testGroup, Intent: contract.IntuneRequired}}}
	if _, err := h.st.RequestIntune(ctx, store.IntuneRequest{CeremonyID: id, Digest: testDigest, Target: &target, Decision: contract.IntuneReleased,
		Cause: contract.IntuneCauseSealed, By: "substrate", Key: "req-1", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := h.st.RecordIntune(ctx, store.IntuneResult{CeremonyID: id, Decision: contract.IntuneReleased, Type: custody.TypeIntuneApplied,
		State: store.IntuneApplied, Data: map[string]any{"decision": "released", "appName": "VPN client",
			"changes": []map[string]string{{"text": "group " + testGroup + ": Intune has no assignment; the ceremony decided required"}}},
		Key: "try-1", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	drift, _ := json.Marshal([]map[string]string{{"kind": "intent", "groupId": testGroup, "text": "group " + testGroup + ": Intune has available; the ceremony decided required"}})
	if _, err := h.st.RecordIntuneCheck(ctx, store.IntuneCheck{CeremonyID: id, Drift: drift, Data: map[string]any{"decision": "released", "drift": json.RawMessage(drift)},
		Key: "drift-1", At: time.Now()}); err != nil {
		t.Fatal(err)
	}

	bob, ada := h.client("bob@example.org"), h.client("ada@example.org")
	_, page := h.get(bob, "/artifacts/"+testDigest)
	page = htmlUnescape(page)
	for _, want := range []string{`id="intune-deployments"`, `data-state="applied"`, "drift", "Intune has available; the ceremony decided required",
		"Intune app " + testApp + " to the groups " + testGroup + " (required: installed)",
		"Intune release asked for: the ceremony was sealed", "Release carried out in Intune for app VPN client",
		"Drift check: Intune differs from the release"} {
		if !strings.Contains(page, want) {
			t.Errorf("artifact page lacks %q", want)
		}
	}
	if strings.Contains(page, `id="intune-reapply"`) {
		t.Error("a non-admin is offered the re-apply button")
	}
	if resp := h.post(bob, "/artifacts/"+testDigest+"/intune/apply", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a non-admin re-applied: %d", resp.StatusCode)
	}
	if len(jobs.jobs) != 0 {
		t.Fatalf("a refused re-apply started %v", jobs.jobs)
	}
	if _, page := h.get(ada, "/artifacts/"+testDigest); !strings.Contains(page, `id="intune-reapply"`) {
		t.Error("an admin is not offered the re-apply button")
	}
	resp := h.post(ada, "/artifacts/"+testDigest+"/intune/apply", url.Values{})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "?reapplied=1#intune") {
		t.Fatalf("re-apply: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if len(jobs.jobs) != 1 || jobs.jobs[0] != (contract.IntuneJob{CeremonyID: id, Decision: contract.IntuneReleased, Digest: testDigest,
		Cause: contract.IntuneCauseOperator, By: "ada@example.org"}) {
		t.Fatalf("jobs started: %+v", jobs.jobs)
	}
	if _, page := h.get(bob, "/"); !strings.Contains(page, `id="intune-attention-list"`) || !strings.Contains(page, id) {
		t.Error("the dashboard does not list the drifted deployment")
	}
}

// The composer takes an optional Intune target on a release and checks it with
// the rules; the detail page says where the release goes.
func TestComposerIntuneTarget(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	ivy := h.client("ivy@example.org")
	if _, page := h.get(ivy, "/ceremonies/new?template=release"); !strings.Contains(page, `id="intune-fields"`) {
		t.Fatal("the composer of a release has no Intune fields")
	}
	form := composeValues("intune-bad")
	form.Set("intune_app", "vpn")
	form.Set("intune_groups", testGroup+" install\nnot-a-line")
	resp := h.post(ivy, "/ceremonies/new", form)
	page := htmlUnescape(readAll(t, resp))
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Line 2 is not a group id and an intent") {
		t.Fatalf("bad lines: %d", resp.StatusCode)
	}
	form.Set("intune_groups", testGroup+" install")
	resp = h.post(ivy, "/ceremonies/new", form)
	page = htmlUnescape(readAll(t, resp))
	for _, want := range []string{`"vpn" is not an Intune app id`, `"install" is not one of required, available, uninstall`} {
		if !strings.Contains(page, want) {
			t.Errorf("refused composer lacks %q (%d)", want, resp.StatusCode)
		}
	}
	form = composeValues("intune-good")
	form.Set("intune_app", testApp)
	form.Set("intune_groups", testGroup+" Required\n\n22222222-3333-4444-5555-666666666666, available")
	form.Set("intune_on_revoke", "remove")
	if resp := h.post(ivy, "/ceremonies/new", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("good target refused: %d %s", resp.StatusCode, readAll(t, resp))
	}
	st := mustState(t, h, "web/intune-good")
	want := contract.IntuneTarget{AppID: testApp, OnRevoke: contract.IntuneRevokeRemove, Groups: []contract.IntuneGroup{
		{GroupID: testGroup, Intent: contract.IntuneRequired}, {GroupID: "22222222-3333-4444-5555-666666666666", Intent: contract.IntuneAvailable}}}
	if st.Spec.Intune == nil || st.Spec.Intune.AppID != want.AppID || len(st.Spec.Intune.Groups) != 2 || st.Spec.Intune.Groups[1] != want.Groups[1] || st.Spec.Intune.OnRevoke != want.OnRevoke {
		t.Fatalf("opened with target %+v", st.Spec.Intune)
	}
	if _, page := h.get(ivy, "/ceremonies/web/intune-good"); !strings.Contains(htmlUnescape(page), "Once sealed, the release goes to Intune app "+testApp) {
		t.Error("the detail page does not say where the release goes")
	}
}

// A release template may fix the target: the composer shows it instead of the
// fieldset, and the ceremony opens with it.
func TestComposerTemplateFixesTarget(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	tmpl := releaseTemplate(1)
	tmpl.Name = "vpn-release"
	tmpl.Intune = &contract.IntuneTarget{AppID: testApp, OnRevoke: contract.IntuneRevokeUninstall,
		Groups: []contract.IntuneGroup{{GroupID: testGroup, Intent: contract.IntuneAvailable}}}
	if _, _, err := h.st.ApplyTemplate(context.Background(), tmpl, "test"); err != nil {
		t.Fatal(err)
	}
	ivy := h.client("ivy@example.org")
	_, page := h.get(ivy, "/ceremonies/new?template=vpn-release")
	if page = htmlUnescape(page); strings.Contains(page, `id="intune-fields"`) || !strings.Contains(page, "Once sealed, the release goes to Intune app "+testApp) {
		t.Fatal("the composer does not show the template's target in place of the fields")
	}
	form := composeValues("vpn-1")
	form.Set("template", "vpn-release")
	form.Set("intune_app", "ignored") // the template decides
	if resp := h.post(ivy, "/ceremonies/new", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("open from the template: %d %s", resp.StatusCode, readAll(t, resp))
	}
	if st := mustState(t, h, "web/vpn-1"); st.Spec.Intune == nil || st.Spec.Intune.Groups[0].Intent != contract.IntuneAvailable {
		t.Fatalf("opened with %+v", st.Spec.Intune)
	}
}
