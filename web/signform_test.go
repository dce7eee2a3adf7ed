package web

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store/storetest"
)

// Finding 6 of issue 17: a comment that is not valid UTF-8 is refused at review
// with a clear message (it used to make every later confirm fail with "the
// ceremony changed since you reviewed it"); the API refuses it too.
func TestInvalidUTF8CommentRefusedAtReview(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "utf8")
	bob := h.client("bob@example.org")
	resp, body := h.review(bob, id, "approve", "looks good \xff\xfe")
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "not valid text") {
		t.Fatalf("review with invalid UTF-8: %d", resp.StatusCode)
	}
	if strings.Contains(body, `name="ticket"`) {
		t.Fatal("a ticket was made for an invalid comment")
	}
	// Valid text in any script is fine, and the confirm goes through.
	if resp := h.signSession(bob, id, "approve", "geprüft ✓ 検証済み"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a valid comment: %d %s", resp.StatusCode, readAll(t, resp))
	}
	if got := h.fake.lastReq.Comment; got != "geprüft ✓ 検証済み" {
		t.Fatalf("comment sent %q", got)
	}
	api := h.apiClient(t)
	if resp, p := api("GET", "/api/v1/ceremonies/"+id+"/statement?decision=approve&comment=%FF", h.token(t, "carol@example.org"), nil); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(p["detail"].(string), "not valid text") {
		t.Fatalf("API statement with invalid UTF-8: %d %v", resp.StatusCode, p)
	}
}

// Finding 7 of issue 17: a witness whose only key is ed25519 is not offered a
// form the workflow would refuse, and is told to use `guildhall sign`; so is a
// witness without a passkey on a ceremony that demands key assurance (told to
// register a passkey). A review is refused all the same, and so is a confirm
// with a ticket made before (or without) the review: nothing reaches the
// workflow.
func TestWebFormOnlyWhenItCanSign(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "edkey")
	bob := h.client("bob@example.org")
	form := signValues(t, h, bob, id)
	// A review made before the key was added: its ticket is good, but the
	// confirm must still refuse.
	resp, review := h.review(bob, id, "approve", "ok")
	ticket := between(review, `name="ticket" value="`)
	if resp.StatusCode != http.StatusOK || ticket == "" {
		t.Fatalf("review before the key: %d", resp.StatusCode)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	storetest.AddKey(t, h.st, "bob@example.org", priv)
	_, page := h.get(bob, "/ceremonies/"+id)
	if strings.Contains(page, `id="sign-form"`) || !strings.Contains(page, `id="needs-key"`) || !strings.Contains(page, "guildhall sign "+id) {
		t.Fatalf("the page offers the form or does not say what to do:\n%s", between(page, `id="sign-panel"`))
	}
	resp = h.post(bob, "/ceremonies/"+id+"/review", form)
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "guildhall sign") {
		t.Fatalf("a review anyway: %d", resp.StatusCode)
	}
	resp = h.post(bob, "/ceremonies/"+id+"/sign", url.Values{"ticket": {ticket}})
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "guildhall sign") {
		t.Fatalf("a confirm with the earlier ticket: %d", resp.StatusCode)
	}

	// A ceremony demanding key assurance, a witness without any key.
	spec := mustState(t, h, id).Spec
	spec.ID, spec.Quorum.MinAssurance = "web/keyonly", contract.AssuranceKey
	if _, err := h.fake.Open(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	carol := h.client("carol@example.org")
	form = signValues(t, h, carol, id)
	_, page = h.get(carol, "/ceremonies/web/keyonly")
	if strings.Contains(page, `id="sign-form"`) || !strings.Contains(page, "Register a passkey") {
		t.Fatalf("key-only ceremony: the page offers the form or does not say what to do:\n%s", between(page, `id="sign-panel"`))
	}
	resp = h.post(carol, "/ceremonies/web/keyonly/review", form)
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Register a passkey") {
		t.Fatalf("key-only ceremony, a review anyway: %d", resp.StatusCode)
	}
	// A ticket as a review would make it (signed with the app's key): the
	// confirm refuses it all the same.
	now := time.Now()
	st := statement.Build(spec, "carol@example.org", contract.Approve, "ok", now)
	ticket, err := h.app.cookies.encode(ticketName, signTicket{CeremonyID: spec.ID, WitnessID: "carol@example.org", Decision: contract.Approve,
		Comment: "ok", Statement: string(st.Canonical()), Key: form.Get("key"), Expires: now.Add(ticketTTL).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	resp = h.post(carol, "/ceremonies/web/keyonly/sign", url.Values{"ticket": {ticket}})
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Register a passkey") {
		t.Fatalf("key-only ceremony, a confirm without a key: %d", resp.StatusCode)
	}
	if n := h.fake.signCount(); n != 0 {
		t.Fatalf("%d signatures reached the workflow", n)
	}
}
