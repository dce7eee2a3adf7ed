package statement

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/guildhouse/guildhall/contract"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func demoSpec() contract.Spec {
	return contract.Spec{
		ID: "demo/release-guildhall-v0-1-0", Kind: contract.KindRelease, Title: "Release guildhall v0.1.0",
		Artifact: contract.Artifact{Name: "guildhall", URI: "oci://forgejo.guildhouse.dev/guildhouse/guildhall:v0.1.0",
			Digest: "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"},
		Initiator: "ivy@guildhouse.dev",
		Witnesses: []contract.WitnessRef{{ID: "bob@guildhouse.dev", Role: "release"}, {ID: "alice@guildhouse.dev", Role: "security"}},
		Quorum:    contract.Quorum{Threshold: 2, Roles: map[string]int{"security": 1}, Veto: []string{"security"}},
		Deadline:  t0.Add(7 * 24 * time.Hour),
	}
}

// seededKey is a fixed key so golden values stay put.
func seededKey(b byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32)) }

func TestCanonicalBytesAreStable(t *testing.T) {
	st := Build(demoSpec(), "alice@guildhouse.dev", contract.Approve, "", t0.Add(1500*time.Millisecond))
	// The exact bytes every producer (web, CLI, workflow, evidence) must agree on.
	want := `{"artifactDigest":"sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",` +
		`"artifactName":"guildhall","ceremonyId":"demo/release-guildhall-v0-1-0",` +
		`"commentDigest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","decision":"approve",` +
		`"issuedAt":"2026-11-27T10:00:01Z","kind":"release","policyHash":"` + PolicyHash(demoSpec()) + `",` +
		`"type":"guildhall.statement/v1","witnessId":"alice@guildhouse.dev"}`
	if got := st.String(); got != want {
		t.Fatalf("canonical statement\n got %s\nwant %s", got, want)
	}
	// The policy hash ignores the order witnesses and veto roles are listed in
	// and covers threshold, minimums, veto and the witness set.
	if h := PolicyHash(demoSpec()); h != "edece8a4bac2cfe8b035738a0412d0c83b44e225d5ecd0edc9a3b773c358e900" {
		t.Fatalf("policy hash changed to %s: every stored statement would stop matching", h)
	}
	reordered := demoSpec()
	reordered.Witnesses[0], reordered.Witnesses[1] = reordered.Witnesses[1], reordered.Witnesses[0]
	if PolicyHash(reordered) != PolicyHash(demoSpec()) {
		t.Fatal("witness order changed the policy hash")
	}
	for name, change := range map[string]func(*contract.Spec){
		"threshold": func(s *contract.Spec) { s.Quorum.Threshold = 1 },
		"minimum":   func(s *contract.Spec) { s.Quorum.Roles["security"] = 2 },
		"veto":      func(s *contract.Spec) { s.Quorum.Veto = nil },
		"witness":   func(s *contract.Spec) { s.Witnesses = append(s.Witnesses, contract.WitnessRef{ID: "dave"}) },
		"role":      func(s *contract.Spec) { s.Witnesses[0].Role = "security" },
		"intune target": func(s *contract.Spec) {
			s.Intune = &contract.IntuneTarget{AppID: "0177548a-548a-0177-8a54-77018a547701", OnRevoke: contract.IntuneRevokeRemove,
				Groups: []contract.IntuneGroup{{GroupID: "11111111-2222-3333-4444-555555555555", Intent: contract.IntuneRequired}}}
		},
	} {
		s := demoSpec()
		change(&s)
		if PolicyHash(s) == PolicyHash(demoSpec()) {
			t.Errorf("changing the %s did not change the policy hash", name)
		}
	}
}

// Where a release goes in Intune is part of the policy a witness signs: any
// change to the target changes the hash, and the words say it.
func TestPolicyHashCoversTheIntuneTarget(t *testing.T) {
	withTarget := func(mut func(*contract.IntuneTarget)) contract.Spec {
		s := demoSpec()
		s.Intune = &contract.IntuneTarget{AppID: "0177548a-548a-0177-8a54-77018a547701", OnRevoke: contract.IntuneRevokeRemove,
			Groups: []contract.IntuneGroup{{GroupID: "11111111-2222-3333-4444-555555555555", Intent: contract.IntuneRequired}}}
		if mut != nil {
			mut(s.Intune)
		}
		return s
	}
	base := PolicyHash(withTarget(nil))
	for name, mut := range map[string]func(*contract.IntuneTarget){
		"app":       func(t *contract.IntuneTarget) { t.AppID = "0177548a-548a-0177-8a54-77018a547702" },
		"intent":    func(t *contract.IntuneTarget) { t.Groups[0].Intent = contract.IntuneAvailable },
		"group":     func(t *contract.IntuneTarget) { t.Groups[0].GroupID = "21111111-2222-3333-4444-555555555555" },
		"on revoke": func(t *contract.IntuneTarget) { t.OnRevoke = contract.IntuneRevokeUninstall },
	} {
		if PolicyHash(withTarget(mut)) == base {
			t.Errorf("changing the target's %s did not change the policy hash", name)
		}
	}
	if w := PolicyWords(withTarget(nil)); !strings.Contains(w, "once sealed, the release goes to Intune app 0177548a-548a-0177-8a54-77018a547701") {
		t.Errorf("policy words: %s", w)
	}
}

func TestParseRefusesAnythingButCanonical(t *testing.T) {
	st := Build(demoSpec(), "alice@guildhouse.dev", contract.Approve, "", t0)
	good := st.String()
	if got, err := Parse([]byte(good)); err != nil || got != st {
		t.Fatalf("Parse(canonical) = %+v, %v", got, err)
	}
	for name, bad := range map[string]string{
		"spaces":        strings.Replace(good, `":"`, `": "`, 1),
		"unknown field": strings.Replace(good, `{"artifactDigest"`, `{"admin":true,"artifactDigest"`, 1),
		"other version": strings.Replace(good, "statement/v1", "statement/v2", 1),
		"escaped slash": strings.Replace(good, "demo/release", `demo\/release`, 1),
		"trailing":      good + "\n",
		"not json":      "approve",
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse accepted a statement with %s", name)
		}
	}
}

func TestToWordsSaysWhatIsSigned(t *testing.T) {
	st := Build(demoSpec(), "alice@guildhouse.dev", contract.Reject, "", t0)
	w := st.ToWords("Alice Ashdown")
	for _, part := range []string{"Alice Ashdown (alice@guildhouse.dev)", "reject", "release ceremony demo/release-guildhall-v0-1-0",
		"guildhall", demoSpec().Artifact.Digest, st.PolicyHash, "27 November 2026 at 10:00:00 UTC"} {
		if !strings.Contains(w, part) {
			t.Errorf("words %q lack %q", w, part)
		}
	}
	if !strings.Contains(w, "I add no comment.") {
		t.Errorf("words %q do not say there is no comment", w)
	}
	if w := Build(demoSpec(), "alice@guildhouse.dev", contract.Reject, "no", t0).ToWords(""); !strings.Contains(w, "My comment is part of what I sign.") {
		t.Errorf("words %q do not say the comment is signed", w)
	}
	p := PolicyWords(demoSpec())
	for _, part := range []string{"2 approval(s)", "bob@guildhouse.dev (release)", "at least 1 from security", "reject from security", "ivy@guildhouse.dev does not count"} {
		if !strings.Contains(p, part) {
			t.Errorf("policy words %q lack %q", p, part)
		}
	}
	spec := demoSpec()
	spec.Quorum.MinAssurance = contract.AssuranceKey
	if p := PolicyWords(spec); !strings.HasSuffix(p, "; a signature counts only with assurance key or stronger.") {
		t.Errorf("policy words %q do not name the minimum assurance", p)
	}
}

func openState() contract.State {
	return contract.State{CeremonyID: demoSpec().ID, Spec: demoSpec(), Status: contract.StatusCollecting, OpenedAt: t0.Add(-time.Hour)}
}

func signedRequest(priv ed25519.PrivateKey, witness string, d contract.Decision, at time.Time) contract.SignRequest {
	st := Build(demoSpec(), witness, d, "", at).Canonical()
	return contract.SignRequest{IdempotencyKey: "k", WitnessID: witness, Decision: d, Statement: string(st), Proof: Sign(priv, st)}
}

func TestVerifyRequest(t *testing.T) {
	alice, bob, mallory := seededKey(1), seededKey(2), seededKey(3)
	keys := []PublicKey{
		NewPublicKey("alice@guildhouse.dev", alice.Public().(ed25519.PublicKey)),
		NewPublicKey("bob@guildhouse.dev", bob.Public().(ed25519.PublicKey)),
	}
	now := t0
	good := signedRequest(alice, "alice@guildhouse.dev", contract.Approve, now)
	if err := VerifyRequest(openState(), good, keys, now); err != nil {
		t.Fatalf("a good signature was refused: %v", err)
	}
	if err := VerifyRequest(openState(), contract.SignRequest{WitnessID: "carol@guildhouse.dev", Decision: contract.Approve}, keys, now); err != nil {
		t.Fatalf("an unsigned decision by a witness without keys was refused: %v", err)
	}
	cases := map[string]struct {
		req  func() contract.SignRequest
		want string
	}{
		"unsigned but has keys": {func() contract.SignRequest {
			return contract.SignRequest{WitnessID: "alice@guildhouse.dev", Decision: contract.Approve}
		}, "must carry a signed statement"},
		"foreign key (bob's key for alice)": {func() contract.SignRequest {
			r := signedRequest(bob, "alice@guildhouse.dev", contract.Approve, now)
			return r
		}, "is not registered for this witness"},
		"unregistered key": {func() contract.SignRequest {
			return signedRequest(mallory, "alice@guildhouse.dev", contract.Approve, now)
		}, "is not registered"},
		"signature flipped": {func() contract.SignRequest {
			r := signedRequest(alice, "alice@guildhouse.dev", contract.Approve, now)
			sig, _ := base64.StdEncoding.DecodeString(r.Proof.Signature)
			sig[10] ^= 1
			r.Proof.Signature = base64.StdEncoding.EncodeToString(sig)
			return r
		}, "does not verify"},
		"key id swapped to alice's on mallory's signature": {func() contract.SignRequest {
			r := signedRequest(mallory, "alice@guildhouse.dev", contract.Approve, now)
			r.Proof.KeyID = keys[0].KeyID
			return r
		}, "does not verify"},
		"decision changed after signing": {func() contract.SignRequest {
			r := signedRequest(alice, "alice@guildhouse.dev", contract.Approve, now)
			r.Decision = contract.Reject
			return r
		}, "records \"approve\""},
		"statement edited after signing": {func() contract.SignRequest {
			r := signedRequest(alice, "alice@guildhouse.dev", contract.Approve, now)
			r.Statement = strings.Replace(r.Statement, "10:00:00", "10:00:01", 1)
			return r
		}, "does not verify"},
		"other witness's statement": {func() contract.SignRequest {
			r := signedRequest(alice, "alice@guildhouse.dev", contract.Approve, now)
			r.WitnessID = "bob@guildhouse.dev"
			return r
		}, "names witness"},
		"from the future": {func() contract.SignRequest {
			return signedRequest(alice, "alice@guildhouse.dev", contract.Approve, now.Add(time.Hour))
		}, "in the future"},
		"from before the ceremony": {func() contract.SignRequest {
			return signedRequest(alice, "alice@guildhouse.dev", contract.Approve, now.Add(-3*time.Hour))
		}, "before the ceremony opened"},
		"proof without statement": {func() contract.SignRequest {
			r := signedRequest(alice, "alice@guildhouse.dev", contract.Approve, now)
			r.Statement = ""
			return r
		}, "no statement"},
		"statement without proof": {func() contract.SignRequest {
			r := signedRequest(alice, "alice@guildhouse.dev", contract.Approve, now)
			r.Proof = nil
			return r
		}, "not signed"},
		"comment changed after signing": {func() contract.SignRequest {
			r := signedRequest(alice, "alice@guildhouse.dev", contract.Approve, now)
			r.Comment = "added by someone else"
			return r
		}, "comment"},
		"unknown proof type": {func() contract.SignRequest {
			r := signedRequest(alice, "alice@guildhouse.dev", contract.Approve, now)
			r.Proof.Type = "rsa"
			return r
		}, "not registered"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := VerifyRequest(openState(), c.req(), keys, now)
			p, ok := err.(*Problem)
			if !ok || p.Code != "bad_signature" || !strings.Contains(p.Reason, c.want) {
				t.Fatalf("VerifyRequest = %v, want bad_signature mentioning %q", err, c.want)
			}
		})
	}
	// A signed comment verifies; a statement from before commentDigest existed
	// (the field absent) does not bind the comment, so old signatures still check.
	withComment := Build(demoSpec(), "alice@guildhouse.dev", contract.Approve, "checked the SBOM", now).Canonical()
	req := contract.SignRequest{WitnessID: "alice@guildhouse.dev", Decision: contract.Approve, Comment: "checked the SBOM",
		Statement: string(withComment), Proof: Sign(alice, withComment)}
	if err := VerifyRequest(openState(), req, keys, now); err != nil {
		t.Fatalf("signed comment refused: %v", err)
	}
	legacy := Build(demoSpec(), "alice@guildhouse.dev", contract.Approve, "", now)
	legacy.CommentDigest = ""
	req = contract.SignRequest{WitnessID: "alice@guildhouse.dev", Decision: contract.Approve, Comment: "any",
		Statement: legacy.String(), Proof: Sign(alice, legacy.Canonical())}
	if err := VerifyRequest(openState(), req, keys, now); err != nil {
		t.Fatalf("statement without commentDigest refused: %v", err)
	}
	// A statement for another policy (e.g. before an amendment) is stale.
	amended := openState()
	amended.Spec.Quorum.Threshold = 1
	if err := VerifyRequest(amended, good, keys, now); err == nil || !strings.Contains(err.Error(), "policy or the witness set has changed") {
		t.Fatalf("stale policy: %v", err)
	}
}

func TestKeyFiles(t *testing.T) {
	kf, priv, err := GenerateKey("alice@guildhouse.dev", rand.Reader, t0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(kf)
	got, priv2, err := ParseKeyFile(b, "")
	if err != nil || !priv.Equal(priv2) || got.KeyID != kf.KeyID || got.WitnessID != "alice@guildhouse.dev" {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if _, _, err := ParseKeyFile(b, "bob@guildhouse.dev"); err == nil {
		t.Fatal("a key file of alice was accepted for bob")
	}
	tampered := kf
	tampered.PublicKey = NewPublicKey("x", seededKey(9).Public().(ed25519.PublicKey)).PublicKey
	b, _ = json.Marshal(tampered)
	if _, _, err := ParseKeyFile(b, ""); err == nil {
		t.Fatal("a key file whose public key does not match was accepted")
	}
	// openssl genpkey -algorithm ed25519 writes PKCS#8 PEM.
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	got, _, err = ParseKeyFile(pemKey, "alice@guildhouse.dev")
	if err != nil || got.KeyID != kf.KeyID {
		t.Fatalf("PEM key: %+v %v", got, err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(priv.Public())
	for _, s := range []string{kf.PublicKey, base64.RawURLEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)),
		string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))} {
		pub, err := ParseEd25519PublicKey(s)
		if err != nil || KeyID(pub) != kf.KeyID {
			t.Fatalf("ParseEd25519PublicKey(%q) = %v", s, err)
		}
	}
	if _, err := ParseEd25519PublicKey("c2hvcnQ="); err == nil {
		t.Fatal("a short key was accepted")
	}
}

// TestWebAuthnProof builds an assertion the way a browser does (ES256 passkey)
// and checks it, and that it is bound to the statement.
func TestWebAuthnProof(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubBytes, _ := ec.PublicKey.Bytes() // uncompressed point: 0x04 || X || Y
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: pubBytes[1:33], YCoord: pubBytes[33:],
	})
	if err != nil {
		t.Fatal(err)
	}
	key := PublicKey{WitnessID: "alice@guildhouse.dev", Type: KeyWebAuthn, KeyID: "Y3JlZC0x", PublicKey: base64.StdEncoding.EncodeToString(cose)}
	stmt := Build(demoSpec(), "alice@guildhouse.dev", contract.Approve, "", t0).Canonical()
	assert := func(stmt []byte, flags byte) *contract.Proof {
		nonce := bytes.Repeat([]byte{7}, 32)
		cd, _ := json.Marshal(map[string]string{"type": "webauthn.get", "origin": "https://guildhall.example",
			"challenge": base64.RawURLEncoding.EncodeToString(WebAuthnChallenge(stmt, nonce))})
		rp := sha256.Sum256([]byte("guildhall.example"))
		authData := append(append(rp[:], flags), 0, 0, 0, 1)
		cdh := sha256.Sum256(cd)
		digest := sha256.Sum256(append(append([]byte{}, authData...), cdh[:]...))
		sig, _ := ecdsa.SignASN1(rand.Reader, ec, digest[:])
		return &contract.Proof{Type: KeyWebAuthn, KeyID: key.KeyID, Signature: base64.StdEncoding.EncodeToString(sig),
			AuthenticatorData: base64.StdEncoding.EncodeToString(authData), ClientDataJSON: base64.StdEncoding.EncodeToString(cd),
			Nonce: base64.StdEncoding.EncodeToString(nonce)}
	}
	if err := VerifyProof(stmt, assert(stmt, 0x05), []PublicKey{key}); err != nil {
		t.Fatalf("a valid passkey assertion was refused: %v", err)
	}
	other := Build(demoSpec(), "alice@guildhouse.dev", contract.Reject, "", t0).Canonical()
	if err := VerifyProof(other, assert(stmt, 0x05), []PublicKey{key}); err == nil || !strings.Contains(err.Error(), "does not bind this statement") {
		t.Fatalf("an assertion for another statement: %v", err)
	}
	if err := VerifyProof(stmt, assert(stmt, 0x04), []PublicKey{key}); err == nil {
		t.Fatal("an assertion without user presence was accepted")
	}
	p := assert(stmt, 0x05)
	sig, _ := base64.StdEncoding.DecodeString(p.Signature)
	sig[len(sig)-3] ^= 1
	p.Signature = base64.StdEncoding.EncodeToString(sig)
	if err := VerifyProof(stmt, p, []PublicKey{key}); err == nil {
		t.Fatal("a damaged passkey signature was accepted")
	}
}
