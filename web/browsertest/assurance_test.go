package browsertest

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/statement"
)

// temporalCLI runs the temporal CLI against the test's dev server, as an
// operator with access to the frontend would.
func temporalCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := testenv.TemporalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(args, "--address", stack.temporalAddr)...).CombinedOutput()
	return string(out), err
}

// openWith opens a ceremony with a policy of its own through the client.
func openWith(t *testing.T, name string, q contract.Quorum) string {
	t.Helper()
	spec := contract.Spec{ID: "web/" + name, Kind: contract.KindRelease, Title: "Browser test " + name,
		Artifact:  contract.Artifact{Name: "guildhall", Digest: "sha256:" + strings.Repeat("7b", 32)},
		Initiator: "ivy@guildhall.test",
		Witnesses: []contract.WitnessRef{{ID: "bob@guildhall.test", Role: "release"}, {ID: "carol@guildhall.test", Role: "security"}},
		Quorum:    q, Deadline: time.Now().Add(48 * time.Hour).UTC(), Source: "web"}
	if _, err := stack.cer.Open(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	return spec.ID
}

// A signature sent straight to Temporal (no statement, no web login) is shown as
// operator on the page and in the chain, never as a session; one made through
// the web app's login is a session, as the web vouched.
func TestTemporalCLISignatureIsOperator(t *testing.T) {
	id := openWith(t, "cli-operator", contract.Quorum{Threshold: 2})
	if out, err := temporalCLI(t, "workflow", "update", "execute", "--workflow-id", contract.WorkflowID(id), "--name", contract.UpdateSign,
		"--input", `{"idempotencyKey":"cli-bob","witnessId":"bob@guildhall.test","decision":"approve","via":"web"}`); err != nil {
		t.Fatalf("temporal workflow update: %v\n%s", err, out)
	}
	carol := newUser(t, "carol@guildhall.test", false)
	carol.open("/ceremonies/" + id)
	carol.do(
		chromedp.Click(chromedp.ID("decision-approve")),
		chromedp.Click(chromedp.ID("sign-submit")),
		chromedp.WaitVisible(chromedp.ID("confirm-sign")),
		chromedp.Click(chromedp.ID("confirm-sign")),
		chromedp.WaitVisible(chromedp.ID("my-signature")),
	)
	carol.shot("30-assurance-operator-and-session")
	bob := carol.text(`#signatures tr[data-witness="bob@guildhall.test"] td[data-assurance]`)
	if !strings.Contains(bob, "operator") || !strings.Contains(bob, "Guildhall authenticated nobody") || strings.Contains(bob, "session") {
		t.Errorf("bob's CLI signature is shown as %q", bob)
	}
	if c := carol.text(`#signatures tr[data-witness="carol@guildhall.test"] td[data-assurance]`); !strings.Contains(c, "session") {
		t.Errorf("carol's web signature is shown as %q", c)
	}
	chain := carol.text("#custody")
	if !strings.Contains(chain, "not vouched for by the web app (sent to Temporal directly, or with a vouch that did not check out), so Guildhall authenticated nobody (assurance: operator)") ||
		!strings.Contains(chain, "the web app vouched for (assurance: session)") || strings.Contains(chain, "session, no key") {
		t.Errorf("the chain of custody says:\n%s", chain)
	}
	st, _ := stack.cer.Status(context.Background(), id)
	for _, s := range st.Signatures {
		if want := map[string]contract.Assurance{"bob@guildhall.test": "operator", "carol@guildhall.test": "session"}[s.WitnessID]; s.Assurance != want {
			t.Errorf("%s: the workflow recorded %q, want %q", s.WitnessID, s.Assurance, want)
		}
	}
}

// A ceremony demanding key assurance does not offer a witness without a
// passkey the form a web session would sign with (it tells them to register a
// passkey; the server refuses a review anyway, web.TestWebFormOnlyWhenItCanSign),
// refuses an operator signature, and accepts a passkey signature.
func TestMinAssuranceKeyNeedsAPasskey(t *testing.T) {
	id := openWith(t, "needs-key", contract.Quorum{Threshold: 2, MinAssurance: contract.AssuranceKey})
	dave := newUser(t, "carol@guildhall.test", false)
	dave.open("/ceremonies/" + id)
	if got := dave.text("#needs-key"); !strings.Contains(got, "Register a passkey") {
		t.Errorf("the page does not say what to do: %q", got)
	}
	dave.shot("31-needs-key")
	if n := run(dave, chromedp.Evaluate[int](`document.querySelectorAll("#sign-form, #decision-approve").length`)); n != 0 {
		t.Error("the page offers a form whose signature the workflow would refuse")
	}
	out, err := temporalCLI(t, "workflow", "update", "execute", "--workflow-id", contract.WorkflowID(id), "--name", contract.UpdateSign,
		"--input", `{"idempotencyKey":"cli-carol","witnessId":"carol@guildhall.test","decision":"approve"}`)
	if err == nil || !strings.Contains(out, "assurance_too_low") {
		t.Errorf("an operator signature was not refused with assurance_too_low: %v\n%s", err, out)
	}
	bob := newUser(t, "bob@guildhall.test", true)
	bob.registerPasskey("bob key")
	bob.open("/ceremonies/" + id)
	bob.signWithPasskey(id, "approve", "checked", "32-needs-key-passkey")
	st, _ := stack.cer.Status(context.Background(), id)
	if len(st.Signatures) != 1 || st.Signatures[0].WitnessID != "bob@guildhall.test" || st.Signatures[0].Assurance != contract.AssuranceKey ||
		st.Signatures[0].AssuranceMethod != statement.MethodPasskey {
		t.Fatalf("signatures %+v", st.Signatures)
	}
	if got := bob.text(`#signatures tr[data-witness="bob@guildhall.test"] td[data-assurance]`); !strings.Contains(got, "key") || !strings.Contains(got, "passkey") {
		t.Errorf("bob's passkey signature is shown as %q", got)
	}
}

// The initiator withdraws an open ceremony from its page, with a reason; the
// page then shows it cancelled and says so.
func TestInitiatorWithdraws(t *testing.T) {
	id := openDirect(t, "to-withdraw")
	ivy := newUser(t, "ivy@guildhall.test", false)
	ivy.open("/ceremonies/" + id)
	ivy.do(
		chromedp.Click(chromedp.CSS("#withdraw summary")),
		chromedp.SendKeys(chromedp.ID("withdraw-reason"), "Wrong artifact: superseded by v2."),
		chromedp.Click(chromedp.ID("withdraw-submit")),
		chromedp.WaitVisible(chromedp.ID("withdrawn-notice")),
	)
	ivy.shot("33-withdrawn")
	if got := ivy.text("#status"); !strings.Contains(got, "cancel") {
		t.Errorf("status after withdrawing: %q", got)
	}
	st, _ := stack.cer.Status(context.Background(), id)
	if st.Status != contract.StatusCancelled || !strings.Contains(st.Reason, "superseded by v2") {
		t.Fatalf("state %s %q", st.Status, st.Reason)
	}
	bob := newUser(t, "bob@guildhall.test", false)
	bob.open("/ceremonies/" + id)
	if n := run(bob, chromedp.Evaluate[int](`document.querySelectorAll("#withdraw-form").length`)); n != 0 {
		t.Error("a witness is offered the withdraw form")
	}
}
