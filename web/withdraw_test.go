package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store/storetest"
)

// The initiator withdraws from the page with a reason; a witness may not, and a
// reason is required. The cancel carries who.
func TestWithdrawFromThePage(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "to-withdraw")
	ivy, bob := h.client("ivy@example.org"), h.client("bob@example.org")
	if _, page := h.get(bob, "/ceremonies/"+id); strings.Contains(page, `id="withdraw-form"`) {
		t.Error("a witness is offered the withdraw form")
	}
	_, page := h.get(ivy, "/ceremonies/"+id)
	key := between(page, `id="withdraw-form"><input type="hidden" name="key" value="`)
	if resp := h.post(bob, "/ceremonies/"+id+"/withdraw", url.Values{"key": {key}, "reason": {"not mine"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a witness withdrew: %d", resp.StatusCode)
	}
	resp := h.post(ivy, "/ceremonies/"+id+"/withdraw", url.Values{"key": {key}, "reason": {"  "}})
	if page := readAll(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Say why it is withdrawn") {
		t.Errorf("no reason: %d", resp.StatusCode)
	}
	if st := mustState(t, h, id); st.Status != contract.StatusCollecting {
		t.Fatalf("refused withdraws changed the status: %s", st.Status)
	}
	resp = h.post(ivy, "/ceremonies/"+id+"/withdraw", url.Values{"key": {key}, "reason": {"wrong artifact"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ceremonies/"+id+"?withdrawn=1" {
		t.Fatalf("withdraw: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	st := mustState(t, h, id)
	if st.Status != contract.StatusCancelled || !strings.Contains(st.Reason, "wrong artifact") || !strings.Contains(st.Reason, "Ivy") {
		t.Fatalf("after withdraw: %s %q", st.Status, st.Reason)
	}
	_, page = h.get(ivy, "/ceremonies/"+id+"?withdrawn=1")
	if !strings.Contains(page, `id="withdrawn-notice"`) || strings.Contains(page, `id="withdraw-form"`) {
		t.Error("no confirmation, or the form is still offered")
	}
	// The cancel carries the web's vouch for Ivy's login, so the record says
	// she was authenticated, not just named.
	c := lastCancel(t, h)
	if c.By != "ivy@example.org" || c.Vouch == nil || c.Vouch.Level != contract.AssuranceSession || c.Vouch.Method != statement.MethodDevLogin {
		t.Fatalf("cancel sent %+v, want Ivy's, vouched for her development login", c)
	}
	if st.CloseAssurance != contract.AssuranceSession {
		t.Fatalf("close assurance %q, want session: the vouch does not verify", st.CloseAssurance)
	}
	if !strings.Contains(page, `<dd id="cancel-assurance">session · development login</dd>`) {
		t.Error("the detail page does not say how the cancel was authenticated")
	}
	if !strings.Contains(page, "cancelled by Ivy (session · development login)") {
		t.Error("the custody words do not say who cancelled and how they were authenticated")
	}
}

// lastCancel is the last cancel the app sent.
func lastCancel(t *testing.T, h *harness) contract.Cancel {
	t.Helper()
	h.fake.mu.Lock()
	defer h.fake.mu.Unlock()
	for i := len(h.fake.signals) - 1; i >= 0; i-- {
		if c, ok := h.fake.signals[i].Payload.(contract.Cancel); ok {
			return c
		}
	}
	t.Fatal("no cancel sent")
	return contract.Cancel{}
}

// A cancel sent to Temporal directly names a person Guildhall did not
// authenticate, and the custody words and the detail page say so.
func TestOperatorCancelIsShownAsSuch(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "operator-cancel")
	if err := h.fake.Signal(context.Background(), id, contract.SignalCancel, contract.Cancel{IdempotencyKey: "op", By: "ivy@example.org", Reason: "withdrawn by Ivy: x"}); err != nil {
		t.Fatal(err)
	}
	_, page := h.get(h.client("ivy@example.org"), "/ceremonies/"+id)
	if !strings.Contains(page, `<dd id="cancel-assurance">operator · not vouched for by the web app`) ||
		!strings.Contains(page, "cancelled in the name of Ivy by a cancel not vouched for by the web app") {
		t.Error("an unvouched cancel is not shown as an operator's")
	}
	if !strings.Contains(page, `">in the name of Ivy</span>`) {
		t.Error("the chain row of an unvouched cancel says it was by Ivy, not in her name")
	}
}

// The API's withdraw is vouched for its token.
func TestAPIWithdrawIsVouchedForTheToken(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "api-vouched")
	resp, p := h.apiClient(t)("POST", "/api/v1/ceremonies/"+id+"/cancel", h.token(t, "ivy@example.org"), map[string]string{"reason": "superseded by v2"})
	if resp.StatusCode != http.StatusOK || !strings.Contains(toJSON(p), `"closeAssurance":"token"`) || !strings.Contains(toJSON(p), `"closeAssuranceMethod":"api-token"`) {
		t.Fatalf("withdraw: %d %v, want the cancel recorded with token assurance", resp.StatusCode, p)
	}
}

// The API withdraws too, with the same rules.
func TestWithdrawThroughTheAPI(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "api-withdraw")
	api := h.apiClient(t)
	if resp, p := api("POST", "/api/v1/ceremonies/"+id+"/cancel", h.token(t, "bob@example.org"), map[string]string{"reason": "x"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a witness withdrew through the API: %d %v", resp.StatusCode, p)
	}
	if resp, p := api("POST", "/api/v1/ceremonies/"+id+"/cancel", h.token(t, "ivy@example.org"), map[string]string{}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("no reason: %d %v", resp.StatusCode, p)
	}
	resp, p := api("POST", "/api/v1/ceremonies/"+id+"/cancel", h.token(t, "ivy@example.org"), map[string]string{"reason": "superseded by v2"})
	if resp.StatusCode != http.StatusOK || !strings.Contains(toJSON(p), `"status":"cancelled"`) {
		t.Fatalf("withdraw: %d %v", resp.StatusCode, p)
	}
}
