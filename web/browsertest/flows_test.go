package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store/storetest"
)

// user is one person in their own browser context (own cookies, own virtual
// authenticator), logged in through the development login.
type user struct {
	t   *testing.T
	ctx context.Context
	id  string
}

const step = 30 * time.Second

func newUser(t *testing.T, witnessID string, authenticator bool) *user {
	t.Helper()
	ctx := openTab(t, witnessID)
	u := &user{t: t, ctx: ctx, id: witnessID}
	if authenticator {
		cctx, cancel := context.WithTimeout(ctx, step)
		defer cancel()
		if _, err := chromedp.Call(cctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			t.Fatalf("enable WebAuthn for %s: %v", witnessID, err)
		}
		if _, err := chromedp.Call(cctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
				HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
			}}); err != nil {
			t.Fatalf("add virtual authenticator for %s: %v", witnessID, err)
		}
	}
	u.do(
		chromedp.WaitVisible(chromedp.ID("witness")),
		chromedp.SetValue(chromedp.ID("witness"), witnessID),
		chromedp.Click(chromedp.CSS("#dev-login button")),
		chromedp.WaitVisible(chromedp.ID("whoami")),
	)
	return u
}

// do runs steps with a per-step timeout (never on the browser's first context).
func (u *user) do(steps ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, step)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		u.shot("FAILED-" + strings.ReplaceAll(u.id, "@", "_"))
		u.t.Fatalf("%s: %v (page %s)", u.id, err, u.location())
	}
}

func run[T any](u *user, a chromedp.Action[T]) T {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, step)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		u.shot("FAILED-" + strings.ReplaceAll(u.id, "@", "_"))
		u.t.Fatalf("%s: %v (page %s)", u.id, err, u.location())
	}
	return v
}

func (u *user) location() string {
	ctx, cancel := context.WithTimeout(u.ctx, 5*time.Second)
	defer cancel()
	l, _ := chromedp.Run(ctx, chromedp.Location())
	return l
}

// text is an element's text, read in one step in the page: live updates swap
// elements, and a node found first and read after would be gone.
func (u *user) text(sel string) string {
	u.t.Helper()
	q, _ := json.Marshal(sel)
	u.waitJS(sel, fmt.Sprintf(`document.querySelector(%s) !== null`, q))
	return run(u, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%s) || {innerText: ""}).innerText`, q)))
}

// waitJS waits until a JavaScript expression is true on the current page.
func (u *user) waitJS(what, expr string) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, step)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(25*time.Second))); err != nil {
		u.shot("FAILED-wait-" + strings.ReplaceAll(u.id, "@", "_"))
		u.t.Fatalf("%s: waiting for %s: %v (page %s)", u.id, what, err, u.location())
	}
}

// shot saves a full-page screenshot as test output.
func (u *user) shot(name string) { u.shotTo(filepath.Join(stack.outDir, name+".png")) }

func (u *user) open(path string) { u.do(chromedp.Navigate(stack.baseURL + path)) }

// registerPasskey creates a passkey with the virtual authenticator.
func (u *user) registerPasskey(label string) {
	u.t.Helper()
	u.open("/account")
	u.do(
		chromedp.SendKeys(chromedp.ID("passkey-label"), label),
		chromedp.Click(chromedp.ID("passkey-register")),
		chromedp.WaitVisible(chromedp.ID("passkey-list")),
	)
}

// liveConnected waits until the page's event stream said hello.
func (u *user) liveConnected() {
	u.waitJS("the live stream", `document.body.getAttribute("data-live") === "connected"`)
}

// markPage sets a marker that only survives as long as the page is not reloaded.
func (u *user) markPage() {
	run(u, chromedp.Evaluate[bool](`window.__guildhallNoReload = true`))
}

func (u *user) assertNotReloaded() {
	u.t.Helper()
	if !run(u, chromedp.Evaluate[bool](`window.__guildhallNoReload === true`)) {
		u.t.Fatalf("%s: the page was reloaded; it should have updated in place", u.id)
	}
}

// signWithPasskey signs the open ceremony page: decision, comment, review (the
// statement and digest are checked against the ceremony), passkey.
func (u *user) signWithPasskey(id, decision, comment, shotName string) statement.Statement {
	u.t.Helper()
	u.do(
		chromedp.Click(chromedp.ID("decision-"+decision)),
		chromedp.SendKeys(chromedp.ID("comment"), comment),
		chromedp.Click(chromedp.ID("sign-submit")),
		chromedp.WaitVisible(chromedp.ID("passkey-sign")),
	)
	raw := run(u, chromedp.TextContent(chromedp.CSS("#statement-canonical")))
	digest := u.text("#statement-digest")
	words := u.text("#statement-words")
	st, err := statement.Parse([]byte(raw))
	if err != nil {
		u.t.Fatalf("%s: the statement shown is not canonical: %v\n%s", u.id, err, raw)
	}
	if st.Digest() != digest || st.CeremonyID != id || string(st.Decision) != decision || st.WitnessID != u.id {
		u.t.Fatalf("%s: shown statement/digest disagree: %+v digest %s", u.id, st, digest)
	}
	if !strings.Contains(words, decision+" the release ceremony "+id) {
		u.t.Fatalf("%s: statement in words: %q", u.id, words)
	}
	if shotName != "" {
		u.shot(shotName)
	}
	u.do(
		chromedp.Click(chromedp.ID("passkey-sign")),
		chromedp.WaitVisible(chromedp.ID("my-signature")),
	)
	return st
}

func openThroughComposer(t *testing.T, ivy *user, name string) string {
	t.Helper()
	ivy.open("/ceremonies/new")
	ivy.do(chromedp.Click(chromedp.ID("template-release")), chromedp.WaitVisible(chromedp.ID("template-policy")))
	ivy.do(
		chromedp.SendKeys(chromedp.ID("title"), "Release guildhall "+name),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("artifact_name"), "guildhall"),
		chromedp.SendKeys(chromedp.ID("digest"), "sha256:"+strings.Repeat("5e", 32)),
		chromedp.SendKeys(chromedp.ID("uri"), "oci://registry.guildhall.test/guildhall:"+name),
	)
	ivy.shot("03-composer")
	ivy.do(chromedp.Click(chromedp.ID("open-ceremony")), chromedp.WaitVisible(chromedp.ID("ceremony-id")))
	return "web/" + name
}

// TestTwoWitnessesSignWithPasskeysAndSeeEachOtherLive is the main journey:
// two witnesses register passkeys, log in, open the same ceremony; one signs and
// the other's page updates without a reload; the second signs and both see
// quorum. The kept proofs verify offline.
func TestTwoWitnessesSignWithPasskeysAndSeeEachOtherLive(t *testing.T) {
	bob := newUser(t, "bob@guildhall.test", true)
	carol := newUser(t, "carol@guildhall.test", true)
	ivy := newUser(t, "ivy@guildhall.test", false)
	ivy.shot("01-dashboard-empty")

	bob.registerPasskey("bob laptop")
	carol.registerPasskey("carol phone")
	carol.shot("02-account-passkey")

	id := openThroughComposer(t, ivy, "rel-live")
	ivy.shot("04-detail-initiator")

	bob.open("/ceremonies/" + id)
	carol.open("/ceremonies/" + id)
	bob.liveConnected()
	carol.liveConnected()
	carol.markPage()
	if got := carol.text("#approvals"); !strings.Contains(got, "0 of 2") {
		t.Fatalf("carol sees %q before anyone signed", got)
	}
	bob.shot("05-detail-witness")

	bob.signWithPasskey(id, "approve", "Reproducible build checked.", "06-review-statement")
	bob.shot("07-detail-after-bob")
	bob.markPage()

	// Carol's page changes in place when Bob signs.
	carol.waitJS("Bob's approval on Carol's page", `(document.querySelector("#approvals")||{}).textContent.includes("1 of 2")`)
	carol.assertNotReloaded()
	if !strings.Contains(carol.text("#signatures"), "Bob Brightwater") {
		t.Fatal("carol's live page does not list bob's signature")
	}
	carol.shot("08-detail-carol-live-update")

	carol.signWithPasskey(id, "approve", "Security review done.", "")
	carol.waitJS("quorum on Carol's page", `(document.querySelector("#status")||{}).textContent.includes("quorum reached")`)
	// Bob's page reaches quorum live too, and loses nothing.
	bob.waitJS("quorum on Bob's page", `(document.querySelector("#status")||{}).textContent.includes("quorum reached")`)
	bob.assertNotReloaded()
	bob.shot("09-detail-quorum-live")
	carol.shot("10-detail-quorum")

	// The workflow holds both signatures with WebAuthn proofs over the statements.
	ctx := context.Background()
	st, err := stack.cer.Status(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != contract.StatusQuorumReached || len(st.Signatures) != 2 {
		t.Fatalf("workflow state: %s with %d signatures", st.Status, len(st.Signatures))
	}
	for _, sg := range st.Signatures {
		if sg.Proof == nil || sg.Proof.Type != "webauthn" || sg.Statement == "" || sg.Via != "web" {
			t.Fatalf("signature of %s has no passkey proof: %+v", sg.WitnessID, sg)
		}
		// Offline check: only the statement, the proof and the registered public key.
		w, err := stack.store.GetWitness(ctx, sg.WitnessID)
		if err != nil {
			t.Fatal(err)
		}
		var keys []statement.PublicKey
		for _, c := range w.Credentials {
			keys = append(keys, statement.PublicKey{WitnessID: w.ID, Type: c.Type, KeyID: c.KeyID, PublicKey: c.PublicKey})
		}
		if err := statement.VerifyProof([]byte(sg.Statement), sg.Proof, keys); err != nil {
			t.Fatalf("proof of %s does not verify offline: %v", sg.WitnessID, err)
		}
	}
	// ... and the Ops DB has them as rows with the proof kept as evidence.
	testenv.Eventually(t, 20*time.Second, "signature rows in the Ops DB", func() bool {
		rows, err := stack.store.Signatures(ctx, id)
		return err == nil && len(rows) == 2 && strings.Contains(rows[0].Proof, `"webauthn"`) && strings.Contains(rows[1].Proof, "clientDataJSON")
	})

	// Every page, as people see it now.
	ivy.open("/")
	ivy.shot("11-dashboard")
	ivy.open("/ceremonies")
	ivy.shot("12-ceremonies")
	ivy.open("/ceremonies?status=quorum_reached&kind=release")
	ivy.shot("13-ceremonies-filtered")
	ivy.open("/artifacts")
	ivy.shot("14-artifacts")
	ivy.open("/artifacts/sha256:" + strings.Repeat("5e", 32))
	ivy.shot("15-artifact")
	ivy.open("/chronicle?all=1")
	ivy.shot("16-chronicle")
	ivy.open("/posture")
	ivy.shot("17-posture")
	ivy.open("/ceremonies/web/does-not-exist")
	ivy.shot("18-not-found")
	anon := newUserAnon(t)
	anon.shot("00-login")
}

func newUserAnon(t *testing.T) *user {
	return &user{t: t, ctx: openTab(t, "anonymous"), id: "anonymous"}
}

// tabsOpened counts the tabs opened, so that each gets an address of its own.
var tabsOpened atomic.Int32

// openTab opens the login page in a browser context of its own, as a person on
// their own machine would: the tab sends its own X-Forwarded-For, which the app
// (trusting loopback as its proxy here) takes as the client address. So the
// per-address login limit counts one person's logins, as in production, not
// the whole suite's (which passed 30 a minute on a fast machine).
func openTab(t *testing.T, who string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(stack.browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first action creates the tab and binds it to the context it runs
	// with, so it runs without a timeout (a timeout would close the tab).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("open a tab for %s: %v", who, err)
	}
	n := tabsOpened.Add(1)
	addr := fmt.Sprintf("10.0.%d.%d", n/250, n%250+1)
	cctx, cancelStep := context.WithTimeout(ctx, step)
	defer cancelStep()
	if _, err := chromedp.Call(cctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("tab for %s: %v", who, err)
	}
	if _, err := chromedp.Call(cctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"X-Forwarded-For": addr}}); err != nil {
		t.Fatalf("tab for %s: %v", who, err)
	}
	if err := chromedp.Do(cctx, chromedp.Navigate(stack.baseURL+"/login")); err != nil {
		t.Fatalf("open the login page for %s: %v", who, err)
	}
	return ctx
}

// openDirect opens a ceremony through the client (faster than the composer).
func openDirect(t *testing.T, name string, witnesses ...contract.WitnessRef) string {
	t.Helper()
	if len(witnesses) == 0 {
		witnesses = []contract.WitnessRef{{ID: "bob@guildhall.test", Role: "release"}, {ID: "carol@guildhall.test", Role: "security"}}
	}
	spec := contract.Spec{ID: "web/" + name, Kind: contract.KindRelease, Title: "Browser test " + name,
		Artifact:  contract.Artifact{Name: "guildhall", Digest: "sha256:" + strings.Repeat("7a", 32)},
		Initiator: "ivy@guildhall.test",
		Witnesses: witnesses,
		Quorum:    contract.Quorum{Threshold: 2}, Deadline: time.Now().Add(48 * time.Hour).UTC(), Source: "web"}
	if _, err := stack.cer.Open(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	return spec.ID
}

// TestNonWitnessSeesNoSignFormAndForgedPostIsRefused: Dave is a registered
// witness, but not of this ceremony. He sees no sign form, and POSTs forged
// from his own (same-origin) page are refused with 403; nothing reaches the
// workflow.
func TestNonWitnessSeesNoSignFormAndForgedPostIsRefused(t *testing.T) {
	id := openDirect(t, "authz")
	dave := newUser(t, "dave@guildhall.test", false)
	dave.open("/ceremonies/" + id)
	dave.do(chromedp.WaitVisible(chromedp.ID("not-witness")))
	if n := run(dave, chromedp.Evaluate[int](`document.querySelectorAll("#sign-form, #decision-approve").length`)); n != 0 {
		t.Fatal("a non-witness sees the sign form")
	}
	dave.shot("20-non-witness")
	forge := func(path, body string) int {
		return run(dave, chromedp.Evaluate[int](fmt.Sprintf(
			`fetch(%q, {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: %q}).then(r => r.status)`,
			"/ceremonies/"+id+path, body), chromedp.EvalAwaitPromise))
	}
	if code := forge("/review", "decision=approve&comment=mine&key="+strings.Repeat("ab", 16)); code != http.StatusForbidden {
		t.Fatalf("forged review: %d", code)
	}
	if code := forge("/sign", "ticket=forged.ticket"); code != http.StatusForbidden {
		t.Fatalf("forged confirm: %d", code)
	}
	if code := forge("/sign/passkey", "{}"); code != http.StatusForbidden {
		t.Fatalf("forged passkey signature: %d", code)
	}
	st, err := stack.cer.Status(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Signatures) != 0 || len(st.Rejected) != 0 {
		t.Fatalf("a forged request reached the workflow: signatures %v, rejected %v", st.Signatures, st.Rejected)
	}
}

// TestCrossOriginPostIsRefused: a page on another site submits a signing form
// to Guildhall in a logged-in witness's browser. It is refused, and nothing
// reaches the workflow.
func TestCrossOriginPostIsRefused(t *testing.T) {
	id := openDirect(t, "csrf")
	ln, err := net.Listen("tcp", "127.0.0.1:0") // 127.0.0.1 is another site than localhost
	if err != nil {
		t.Fatal(err)
	}
	evil := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><html><head><title>Win a prize</title></head><body>
<form method="post" action="%s/ceremonies/%s/review">
<input type="hidden" name="decision" value="approve"><input type="hidden" name="key" value="%s">
<button id="claim" type="submit">Claim your prize</button></form></body></html>`, stack.baseURL, id, strings.Repeat("cd", 16))
	})}
	go func() { _ = evil.Serve(ln) }()
	t.Cleanup(func() { _ = evil.Close() })

	bob := newUser(t, "bob@guildhall.test", false)
	bob.do(chromedp.Navigate("http://" + ln.Addr().String() + "/"))
	bob.shot("21-evil-site")
	bob.do(chromedp.Click(chromedp.ID("claim")), chromedp.WaitVisible(chromedp.CSS("section.error")))
	body := bob.text("main")
	if !strings.Contains(body, "Request refused") || !strings.Contains(body, "came from another site") {
		t.Fatalf("cross-origin POST not refused; page says %q", body)
	}
	bob.shot("22-cross-origin-refused")
	st, err := stack.cer.Status(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Signatures) != 0 || len(st.Rejected) != 0 {
		t.Fatalf("the cross-origin POST reached the workflow: %+v", st)
	}
}

// TestSessionSignatureAndReplay: a witness without a passkey signs with their
// session (reject, with a comment); replaying the confirm form is refused.
func TestSessionSignatureAndReplay(t *testing.T) {
	// Carol may hold a passkey from another test (shared DB): remove it before
	// the ceremony opens (the workflow takes the witnesses' keys then), so this
	// journey covers the no-passkey, session-signed path.
	removeCredentials(t, "carol@guildhall.test")
	id := openDirect(t, "twice")
	// Bob has the page open, asked to sign, while Carol's reject ends it.
	bob := newUser(t, "bob@guildhall.test", false)
	bob.open("/ceremonies/" + id)
	bob.liveConnected()
	bob.do(chromedp.WaitVisible(chromedp.ID("sign-panel")))
	carol := newUser(t, "carol@guildhall.test", false)
	carol.open("/ceremonies/" + id)
	carol.do(
		chromedp.Click(chromedp.ID("decision-reject")),
		chromedp.SendKeys(chromedp.ID("comment"), "Not before the audit."),
		chromedp.Click(chromedp.ID("sign-submit")),
		chromedp.WaitVisible(chromedp.ID("confirm-sign")),
	)
	carol.shot("23-review-session")
	// Keep this review page's form; sign from a second tab first.
	ticket := run(carol, chromedp.Evaluate[string](`document.querySelector('#confirm-form input[name="ticket"]').value`))
	carol.do(chromedp.Click(chromedp.ID("confirm-sign")), chromedp.WaitVisible(chromedp.ID("my-signature")))
	// Replaying the old confirm form is refused in plain words, and changes nothing.
	reply := run(carol, chromedp.Evaluate[string](fmt.Sprintf(
		`fetch(%q, {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "ticket=" + encodeURIComponent(%q)}).then(r => r.text().then(b => r.status + " " + b))`,
		"/ceremonies/"+id+"/sign", ticket), chromedp.EvalAwaitPromise))
	if !strings.HasPrefix(reply, "409 ") || !strings.Contains(reply, "You have already signed this ceremony") {
		t.Fatalf("replayed confirm: %.300s", reply)
	}
	st, _ := stack.cer.Status(context.Background(), id)
	if len(st.Signatures) != 1 {
		t.Fatalf("replay changed the signatures: %d", len(st.Signatures))
	}
	// Bob's page no longer asks him to sign a ceremony that ended.
	bob.waitJS("the request to sign gone from Bob's page", `!document.getElementById("sign-panel") && !!document.getElementById("no-longer")`)
}

func removeCredentials(t *testing.T, id string) {
	t.Helper()
	storetest.RemoveKeys(t, stack.store, id)
}

// TestPasskeyRegisteredAfterOpening: a witness without keys when the ceremony
// opened registers a passkey afterwards and signs with it; the workflow takes
// the key registered at signing time.
func TestPasskeyRegisteredAfterOpening(t *testing.T) {
	removeCredentials(t, "alice@guildhall.test")
	id := openDirect(t, "late-key", contract.WitnessRef{ID: "alice@guildhall.test", Role: "security"},
		contract.WitnessRef{ID: "bob@guildhall.test", Role: "release"})
	alice := newUser(t, "alice@guildhall.test", true)
	alice.registerPasskey("alice laptop")
	// Registering a key is a state change, so it is on the custody chain.
	n, err := stack.store.DB.NewSelect().Table("custody_events").
		Where("type = ? AND actor = ?", "witness.key_registered", "alice@guildhall.test").Count(context.Background())
	if err != nil || n == 0 {
		t.Fatalf("passkey registration not on the custody chain: %d events, %v", n, err)
	}
	alice.open("/ceremonies/" + id)
	alice.signWithPasskey(id, "approve", "Key added after the ceremony opened.", "")
	st, err := stack.cer.Status(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Signatures) != 1 || st.Signatures[0].Proof == nil || st.Signatures[0].Proof.Type != "webauthn" {
		t.Fatalf("alice's passkey signature was not kept: %+v", st.Signatures)
	}
}
