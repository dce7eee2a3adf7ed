package evidence_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/evidence"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

const cid = "demo/release-guildhall-v0-1-0"

func demoSpec() contract.Spec {
	return contract.Spec{
		ID: cid, Kind: contract.KindRelease, Title: "Release guildhall v0.1.0",
		Artifact: contract.Artifact{Name: "guildhall", URI: "oci://forgejo.guildhouse.dev/guildhouse/guildhall:v0.1.0",
			Digest: "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"},
		Initiator: "ivy@guildhouse.dev",
		Witnesses: []contract.WitnessRef{{ID: "alice@guildhouse.dev", Role: "security"}, {ID: "bob@guildhouse.dev", Role: "release"},
			{ID: "carol@guildhouse.dev", Role: "release"}},
		Quorum:   contract.Quorum{Threshold: 2, Roles: map[string]int{"security": 1}, Veto: []string{"security"}, MinAssurance: contract.AssuranceSession},
		Deadline: t0.Add(7 * 24 * time.Hour),
		Template: &contract.TemplateRef{Name: "release", Version: 2},
	}
}

type signer struct {
	id   string
	priv ed25519.PrivateKey
}

func key(id string, seed byte) signer {
	return signer{id: id, priv: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))}
}

// ceremony writes a realistic history: keys registered, the ceremony opened
// among other ceremonies' events, a signed approval, a voiding amendment, a
// re-sign, an unsigned approval, quorum and sealing.
func ceremony(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := context.Background()
	alice, bob := key("alice@guildhouse.dev", 1), key("bob@guildhouse.dev", 2)
	for _, w := range []signer{alice, bob, {id: "carol@guildhouse.dev"}} {
		if err := s.EnsureWitness(ctx, store.NewPerson{ID: w.id, DisplayName: w.id}, "test"); err != nil {
			t.Fatal(err)
		}
		if w.priv != nil {
			storetest.AddKey(t, s, w.id, w.priv)
		}
	}
	other := demoSpec()
	other.ID, other.Artifact.Digest = "demo/other", "sha256:"+strings.Repeat("9", 64)
	sp := demoSpec()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.RecordOpened(ctx, store.Opened{Spec: other, WorkflowID: "w0", OpenedAt: t0}))
	must(s.RecordOpened(ctx, store.Opened{Spec: sp, WorkflowID: "ceremony/" + cid, OpenedAt: t0}))
	sign := func(w signer, spec contract.Spec, epoch, approvals int, at time.Time) {
		sig := contract.Signature{WitnessID: w.id, Decision: contract.Approve, Comment: "checked <the> digest & SBOM", SignedAt: at,
			IdempotencyKey: "k-" + w.id + at.Format("150405"), Via: "cli", Epoch: epoch}
		if w.priv != nil {
			st := statement.Build(spec, w.id, contract.Approve, sig.Comment, at).Canonical()
			sig.Statement, sig.Proof = string(st), statement.Sign(w.priv, st)
			sig.Assurance, sig.AssuranceMethod = contract.AssuranceKey, statement.MethodEd25519
		} else {
			// Without a key: the web app vouched for the login, as the workflow records it.
			sig.Assurance, sig.AssuranceMethod = contract.AssuranceSession, statement.MethodOIDC
			sig.Vouch = vouch(t, s, webSecret, cid, sig)
		}
		sig.Epoch = epoch
		must(s.RecordSignature(ctx, cid, sig, store.Tally{Approvals: approvals}))
	}
	sign(alice, sp, 0, 1, t0.Add(time.Minute))
	must(s.RecordOpened(ctx, store.Opened{Spec: func() contract.Spec { o := other; o.ID = "demo/third"; return o }(), WorkflowID: "w3", OpenedAt: t0.Add(2 * time.Minute)}))
	// The policy changes: alice's signature is voided and she signs again.
	amended := sp
	amended.Quorum.Threshold = 3
	must(s.RecordAmended(ctx, store.Amendment{Spec: amended, Generation: 2, MessageKey: "sc-2", At: t0.Add(3 * time.Minute),
		Changes: []string{"threshold 2 → 3"}, Voiding: store.Voiding{Epoch: 1, Voided: []store.VoidedSignature{{WitnessID: alice.id, Epoch: 0}}, VoidReason: "policy changed"}, Status: contract.StatusCollecting}))
	sign(alice, amended, 1, 1, t0.Add(4*time.Minute))
	sign(bob, amended, 1, 2, t0.Add(5*time.Minute))
	sign(signer{id: "carol@guildhouse.dev"}, amended, 1, 3, t0.Add(6*time.Minute))
	must(s.RecordStatus(ctx, cid, store.StatusChange{Status: contract.StatusQuorumReached, Reason: "3 approvals", At: t0.Add(7 * time.Minute), Seq: 1}))
	must(s.RecordStatus(ctx, cid, store.StatusChange{Status: contract.StatusSealed, Reason: "sealed by the substrate", Actor: "substrate", At: t0.Add(8 * time.Minute), Seq: 2}))
	// Later, unrelated events extend the chain past the ceremony.
	must(s.RecordOpened(ctx, store.Opened{Spec: func() contract.Spec { o := other; o.ID = "demo/fourth"; return o }(), WorkflowID: "w4", OpenedAt: t0.Add(9 * time.Minute)}))
}

func export(t *testing.T, s *store.Store, o evidence.Options) []byte {
	t.Helper()
	o.Now = func() time.Time { return t0.Add(time.Hour) }
	b, err := evidence.ExportBytes(context.Background(), s, cid, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExportVerifies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ceremony(t, s)
		data := export(t, s, evidence.Options{ToHead: true})
		r, err := evidence.Verify(data)
		if err != nil {
			t.Fatalf("a fresh export does not verify: %v", err)
		}
		if r.CeremonyID != cid || r.Status != "sealed" || len(r.Signatures) != 4 {
			t.Fatalf("report = %+v", r)
		}
		if r.Template == nil || *r.Template != (contract.TemplateRef{Name: "release", Version: 2}) ||
			!strings.Contains(r.Policy, "counts only with assurance session or stronger") {
			t.Fatalf("template %+v, policy %q", r.Template, r.Policy)
		}
		var signed, voided, unsigned int
		for _, sg := range r.Signatures {
			switch {
			case sg.Voided:
				voided++
			case sg.KeyID == "":
				unsigned++
				if sg.Assurance != "session (oidc)" {
					t.Errorf("the vouched signature reports %q", sg.Assurance)
				}
			default:
				signed++
				if sg.Assurance != "key (ed25519)" {
					t.Errorf("the key signature reports %q", sg.Assurance)
				}
			}
		}
		if signed != 2 || voided != 1 || unsigned != 1 {
			t.Fatalf("signed %d, voided %d, unsigned %d: %+v", signed, voided, unsigned, r.Signatures)
		}
		head, _ := s.ChainHead(context.Background())
		if r.Head.Seq != head.Seq || r.Head.Hash != head.Hash {
			t.Fatalf("bundle head %+v, chain head %d", r.Head, head.Seq)
		}
		// An attestation's chain head (hash only) must lie in the segment.
		events, _ := s.CeremonyCustody(context.Background(), cid)
		attested := events[len(events)-1]
		if _, err := evidence.Verify(data, evidence.Point{Seq: -1, Hash: attested.Hash}, evidence.Point{Seq: head.Seq, Hash: head.Hash}); err != nil {
			t.Fatalf("anchored on the ceremony's head: %v", err)
		}
		if _, err := evidence.Verify(data, evidence.Point{Seq: -1, Hash: strings.Repeat("b", 64)}); err == nil || !strings.Contains(err.Error(), "anchored link") {
			t.Fatalf("unknown anchor: %v", err)
		}
		var b evidence.Bundle
		_ = json.Unmarshal(data, &b)
		if b.Outcome.Approvals != 3 || b.Outcome.Status != "sealed" || b.Outcome.ClosedAt == "" ||
			!strings.Contains(string(b.Ceremony.Spec), `"threshold":3`) {
			t.Fatalf("outcome %+v, spec %s", b.Outcome, b.Ceremony.Spec)
		}
		for _, l := range b.Custody.Links {
			if strings.Contains(string(l.Event), "demo/fourth") {
				goto foundLater
			}
		}
		t.Fatal("the segment does not reach the chain head")
	foundLater:
		short := export(t, s, evidence.Options{})
		if _, err := evidence.Verify(short); err != nil || len(short) >= len(data) {
			t.Fatalf("export to the ceremony's end: %d bytes vs %d, %v", len(short), len(data), err)
		}
		if _, err := evidence.ExportBytes(context.Background(), s, "demo/none", evidence.Options{}); !errors.Is(err, evidence.ErrNoCeremony) {
			t.Fatalf("unknown ceremony: %v", err)
		}
	})
}

// TestEveryAlteredByteFails flips each byte of a bundle in turn (XOR 1): every
// single change must fail verification.
func TestEveryAlteredByteFails(t *testing.T) {
	s := storetest.SQLite(t)
	ceremony(t, s)
	data := export(t, s, evidence.Options{})
	bad := make([]byte, len(data))
	step := 1
	if testing.Short() {
		step = 13
	}
	for i := 0; i < len(data); i += step {
		copy(bad, data)
		bad[i] ^= 1
		if _, err := evidence.Verify(bad); err == nil {
			t.Fatalf("flipping byte %d (%q in …%s…) went unnoticed", i, data[i], data[max(0, i-30):min(len(data), i+30)])
		}
	}
	t.Logf("%d single-byte changes of a %d-byte bundle, all refused", (len(data)+step-1)/step, len(data))
}

// TestAlterationsAreNamed changes one value in each section and checks the
// failure names that section and what is wrong.
func TestAlterationsAreNamed(t *testing.T) {
	s := storetest.SQLite(t)
	ceremony(t, s)
	data := export(t, s, evidence.Options{ToHead: true})
	cases := []struct {
		name, old, new, section, says string
		first                         bool // replace the first occurrence, not the last
	}{
		{"exportedAt", `"exportedAt":"2026-11-27T11:00:00Z"`, `"exportedAt":"2026-11-27T11:00:01Z"`, "meta", "digests.meta", false},
		{"spec", `"spec":{"artifact"`, `"spec":{"artifacX"`, "ceremony", "spec differs", true},
		{"policy words", `"policy":"3 approval(s)`, `"policy":"1 approval(s)`, "ceremony", "policy words", false},
		{"policy hash", `"policyHash":"`, `"policyHash":"0`, "ceremony", "policyHash", false},
		{"decision", `"decision":"approve","epoch":1,"proof"`, `"decision":"reject!","epoch":1,"proof"`, "signatures", "decision differs from custody link", false},
		{"comment", `"comment":"checked <the> digest & SBOM","custodySeq"`, `"comment":"checked <thx> digest & SBOM","custodySeq"`, "signatures", "comment differs", false},
		{"proof key", `"proof":{"keyId":"ed25519:`, `"proof":{"keyId":"ed25519:0`, "signatures", "proof differs from custody link", false},
		{"vouch bytes", `"signature":"`, `"signature":"A`, "signatures", "vouch differs from custody link", false},
		{"public key", `"publicKey":{"keyId":"ed25519:`, `"publicKey":{"keyId":"ed25519:0`, "signatures", "not the signer's key", false},
		{"event payload", `"data":{"reason":"3 approvals","status":"quorum_reached"}`, `"data":{"reason":"2 approvals","status":"quorum_reached"}`, "custody", "stored hash does not match", false},
		{"link hash", `"hash":"`, `"hash":"f`, "custody", "link", false},
		{"ceremony seqs", `"ceremonySeqs":[`, `"ceremonySeqs":[0,`, "custody", "ceremonySeqs", false},
		{"outcome status", `"rejections":0,"status":"sealed"}`, `"rejections":0,"status":"rejected"}`, "outcome", "status differs", false},
		{"outcome approvals", `"approvals":3`, `"approvals":4`, "outcome", "approvals differs", false},
		{"digest", `"digests":{"ceremony":"sha256:`, `"digests":{"ceremony":"sha256:0`, "ceremony", "digests.ceremony", false},
		{"whitespace", `{"ceremony":`, `{ "ceremony":`, "file", "canonical", false},
		{"unknown field", `{"ceremony":`, `{"admin":true,"ceremony":`, "file", "unknown field", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !bytes.Contains(data, []byte(c.old)) {
				t.Fatalf("fixture lacks %s", c.old)
			}
			// Sections are in key order and signatures come last, so the last
			// occurrence is the one in the section under test.
			i := bytes.LastIndex(data, []byte(c.old))
			if c.first {
				i = bytes.Index(data, []byte(c.old))
			}
			bad := append(append(append([]byte{}, data[:i]...), c.new...), data[i+len(c.old):]...)
			_, err := evidence.Verify(bad)
			var f *evidence.Failed
			if !errors.As(err, &f) {
				t.Fatalf("verify = %v, want a failure", err)
			}
			for _, p := range f.Problems {
				if p.Section == c.section && strings.Contains(p.Message, c.says) {
					return
				}
			}
			t.Fatalf("problems %v do not name %s / %q", f.Problems, c.section, c.says)
		})
	}
}

func TestHandlerServesADownload(t *testing.T) {
	s := storetest.SQLite(t)
	ceremony(t, s)
	r := chi.NewRouter()
	r.Get("/ceremonies/{ns}/{name}/evidence", evidence.Handler(s, nil).ServeHTTP)
	srv := httptest.NewServer(r)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/ceremonies/" + cid + "/evidence")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(res.Body)
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Disposition"), "evidence-demo_release-guildhall-v0-1-0.json") {
		t.Fatalf("status %d, headers %v", res.StatusCode, res.Header)
	}
	if _, err := evidence.Verify(buf.Bytes()); err != nil {
		t.Fatalf("downloaded bundle: %v", err)
	}
	res, _ = http.Get(srv.URL + "/ceremonies/demo/nope/evidence")
	if res.StatusCode != 404 {
		t.Fatalf("unknown ceremony: %d", res.StatusCode)
	}
}

const webSecret = "evidence-test-session-secret-0123456789"

// vouch makes the web's vouch for sig with the key of secret, registering it.
func vouch(t *testing.T, s *store.Store, secret, ceremonyID string, sig contract.Signature) *contract.Vouch {
	t.Helper()
	priv, err := statement.WebKey([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	if secret == webSecret {
		pub := statement.WebPublicKey(priv.Public().(ed25519.PublicKey))
		if err := s.RegisterWebKey(context.Background(), pub.KeyID, pub.PublicKey); err != nil {
			t.Fatal(err)
		}
	}
	req := contract.SignRequest{IdempotencyKey: sig.IdempotencyKey, WitnessID: sig.WitnessID, Decision: sig.Decision, Comment: sig.Comment}
	v, err := statement.SignVouch(priv, ceremonyID, req, sig.Assurance, sig.AssuranceMethod, sig.SignedAt)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A chain that claims session assurance for a signature whose vouch is not by a
// registered web key (written by someone with database access, say) is refused,
// naming the signature.
func TestUnprovenSessionClaimFails(t *testing.T) {
	s := storetest.SQLite(t)
	ctx := context.Background()
	sp := demoSpec()
	if err := s.RecordOpened(ctx, store.Opened{Spec: sp, WorkflowID: "ceremony/" + cid, OpenedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	sig := contract.Signature{WitnessID: "carol@guildhouse.dev", Decision: contract.Approve, SignedAt: time.Now().UTC(), IdempotencyKey: "k1",
		Assurance: contract.AssuranceSession, AssuranceMethod: statement.MethodOIDC}
	sig.Vouch = vouch(t, s, "not-the-web-app-secret-0123456789abcdef", cid, sig)
	if err := s.RecordSignature(ctx, cid, sig, store.Tally{Approvals: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := evidence.Verify(export(t, s, evidence.Options{}))
	if err == nil || !strings.Contains(err.Error(), "claims session assurance, but the web app's vouch does not check out") {
		t.Fatalf("verify: %v", err)
	}
}
