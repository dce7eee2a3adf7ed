package statement

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
)

var vouchAt = time.Date(2029, 12, 1, 10, 0, 0, 0, time.UTC)

func testWebKey(t *testing.T, secret string) (ed25519.PrivateKey, PublicKey) {
	t.Helper()
	priv, err := WebKey([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return priv, WebPublicKey(priv.Public().(ed25519.PublicKey))
}

// A sign vouch's claims are what vouches already recorded were signed over:
// changing their bytes would make every recorded vouch fail to verify.
func TestSignVouchClaimsUnchanged(t *testing.T) {
	req := contract.SignRequest{IdempotencyKey: "k-1", WitnessID: "alice", Decision: contract.Approve, Comment: "lgtm"}
	b, err := canonicalJSON(Claims("ceremonies/x", req, contract.AssuranceSession, MethodOIDC, vouchAt))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"at":"2029-12-01T10:00:00Z","ceremonyId":"ceremonies/x","commentSha256":"` + CommentDigest("lgtm") +
		`","decision":"approve","idempotencyKey":"k-1","level":"session","method":"oidc","witnessId":"alice"}`
	if string(b) != want {
		t.Fatalf("sign vouch claims\n got %s\nwant %s", b, want)
	}
}

// A cancel's vouch verifies for exactly that cancel by a registered web key;
// anything else about it makes the cancel an operator's, with the reason.
func TestCancelAssurance(t *testing.T) {
	priv, pub := testWebKey(t, strings.Repeat("s", 32))
	forger, _ := testWebKey(t, strings.Repeat("x", 32))
	keys := []PublicKey{pub}
	const id = "ceremonies/x"
	msg := contract.Cancel{IdempotencyKey: "withdraw:ivy:1", By: "ivy", Reason: "withdrawn by Ivy: wrong artifact"}
	vouch := func(p ed25519.PrivateKey, m contract.Cancel, level contract.Assurance, method string) contract.Cancel {
		t.Helper()
		v, err := SignCancelVouch(p, id, m, level, method, vouchAt)
		if err != nil {
			t.Fatal(err)
		}
		m.Vouch = v
		return m
	}
	good := vouch(priv, msg, contract.AssuranceSession, MethodDevLogin)
	if level, method, why := CancelAssurance(id, good, keys); level != contract.AssuranceSession || method != MethodDevLogin || why != "" {
		t.Fatalf("vouched cancel: %s %s %q", level, method, why)
	}
	if level, _, _ := CancelAssurance(id, vouch(priv, msg, contract.AssuranceToken, MethodAPIToken), keys); level != contract.AssuranceToken {
		t.Fatalf("token-vouched cancel: %s", level)
	}
	// A sign vouch made for a request that looks like the cancel.
	sv, err := SignVouch(priv, id, contract.SignRequest{IdempotencyKey: msg.IdempotencyKey, WitnessID: msg.By, Decision: contract.Reject, Comment: msg.Reason},
		contract.AssuranceSession, MethodOIDC, vouchAt)
	if err != nil {
		t.Fatal(err)
	}
	signAsCancel := msg
	signAsCancel.Vouch = sv
	altered := func(f func(*contract.Cancel)) contract.Cancel { m := good; f(&m); return m }
	cases := map[string]struct {
		id  string
		msg contract.Cancel
	}{
		"no vouch":                   {id, msg},
		"reason altered":             {id, altered(func(m *contract.Cancel) { m.Reason += "!" })},
		"by altered":                 {id, altered(func(m *contract.Cancel) { m.By = "ada" })},
		"idempotency key altered":    {id, altered(func(m *contract.Cancel) { m.IdempotencyKey = "other" })},
		"another ceremony":           {"ceremonies/y", good},
		"level raised":               {id, altered(func(m *contract.Cancel) { v := *m.Vouch; v.Level = contract.AssuranceToken; m.Vouch = &v })},
		"method changed":             {id, altered(func(m *contract.Cancel) { v := *m.Vouch; v.Method = MethodOIDC; m.Vouch = &v })},
		"unregistered key":           {id, vouch(forger, msg, contract.AssuranceSession, MethodOIDC)},
		"key level claimed":          {id, vouch(priv, msg, contract.AssuranceKey, MethodPasskey)},
		"a sign vouch as a cancel's": {id, signAsCancel},
	}
	for name, c := range cases {
		level, method, why := CancelAssurance(c.id, c.msg, keys)
		if level != contract.AssuranceOperator || method != "" || (c.msg.Vouch != nil && why == "") {
			t.Errorf("%s: %s %s %q, want operator with a reason", name, level, method, why)
		}
	}
	// And the other way round: a cancel's vouch does not pass as a signature's.
	req := contract.SignRequest{IdempotencyKey: msg.IdempotencyKey, WitnessID: msg.By, Decision: contract.Reject, Comment: msg.Reason, Vouch: good.Vouch}
	if level, _, why := Assurance(id, req, keys); level != contract.AssuranceOperator || why == "" {
		t.Fatalf("a cancel's vouch on a signature: %s %q", level, why)
	}
}

// Offline, a recorded cancel's vouch verifies with the web key recorded with it
// and with no other.
func TestVerifyCancelVouch(t *testing.T) {
	priv, pub := testWebKey(t, strings.Repeat("s", 32))
	_, other := testWebKey(t, strings.Repeat("o", 32))
	msg := contract.Cancel{IdempotencyKey: "k", By: "ivy", Reason: "done"}
	v, err := SignCancelVouch(priv, "ceremonies/x", msg, contract.AssuranceSession, MethodOIDC, vouchAt)
	if err != nil {
		t.Fatal(err)
	}
	msg.Vouch = v
	if err := VerifyCancelVouch("ceremonies/x", msg, pub.PublicKey); err != nil {
		t.Fatalf("recorded cancel vouch: %v", err)
	}
	if err := VerifyCancelVouch("ceremonies/x", msg, other.PublicKey); err == nil {
		t.Fatal("verified with another web key")
	}
	if err := VerifyCancelVouch("ceremonies/x", msg, base64.StdEncoding.EncodeToString([]byte("short"))); err == nil {
		t.Fatal("verified with a malformed key")
	}
	msg.Reason = "done!"
	if err := VerifyCancelVouch("ceremonies/x", msg, pub.PublicKey); err == nil {
		t.Fatal("verified for an altered reason")
	}

	// A cancel without a reason is recorded as "cancelled", and its vouch
	// checks against what was recorded.
	bare := contract.Cancel{IdempotencyKey: "k2", By: "ivy"}
	if bare.Vouch, err = SignCancelVouch(priv, "ceremonies/x", bare, contract.AssuranceSession, MethodOIDC, vouchAt); err != nil {
		t.Fatal(err)
	}
	recorded := bare
	recorded.Reason = bare.RecordedReason()
	if err := VerifyCancelVouch("ceremonies/x", recorded, pub.PublicKey); err != nil {
		t.Fatalf("a reasonless cancel's vouch against its recorded reason: %v", err)
	}
}
