package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/guildhouse/guildhall/contract"
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
	if _, page := h.get(ivy, "/ceremonies/"+id+"?withdrawn=1"); !strings.Contains(page, `id="withdrawn-notice"`) || strings.Contains(page, `id="withdraw-form"`) {
		t.Error("no confirmation, or the form is still offered")
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
