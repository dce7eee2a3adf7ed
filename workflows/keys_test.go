package workflows_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
	"go.temporal.io/sdk/testsuite"
)

func callbackInto(got *error) *testsuite.TestUpdateCallback {
	return &testsuite.TestUpdateCallback{
		OnAccept: func() {},
		OnReject: func(err error) { *got = err },
		OnComplete: func(_ any, err error) {
			if err != nil {
				*got = err
			}
		},
	}
}

func registerKey(t *testing.T, s *store.Store, id string, seed byte) ed25519.PrivateKey {
	t.Helper()
	priv := ed25519.NewKeyFromSeed([]byte(strings.Repeat(string(rune('a'+seed)), 32)))
	ctx := context.Background()
	// The directory gives them the roles testSpec lists them with.
	if err := s.EnsureWitness(ctx, store.NewPerson{ID: id, DisplayName: id, Roles: []string{"security", "release"}}, "test"); err != nil {
		t.Fatal(err)
	}
	storetest.AddKey(t, s, id, priv)
	return priv
}

// signedReq builds a sign request whose statement is signed by priv.
func signedReq(spec contract.Spec, witness string, d contract.Decision, key string, at time.Time, priv ed25519.PrivateKey) contract.SignRequest {
	st := statement.Build(spec, witness, d, "", at)
	b := st.Canonical()
	return contract.SignRequest{IdempotencyKey: key, WitnessID: witness, Decision: d, Statement: string(b), Proof: statement.Sign(priv, b), Via: "cli"}
}

func (h *harness) signReq(delay time.Duration, req contract.SignRequest, got *error) {
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(contract.UpdateSign, req.IdempotencyKey, callbackInto(got), req)
	}, delay)
}

func TestSignedStatementsAreVerified(t *testing.T) {
	h := newHarness(t)
	alice := registerKey(t, h.store, "alice", 1)
	mallory := ed25519.NewKeyFromSeed([]byte(strings.Repeat("m", 32)))
	spec := testSpec()
	at := time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC)
	var unsigned, forged, wrongDigest, good, bobLate error
	// Alice has a key: an unsigned decision is refused, a forged or mismatched
	// statement too, a correctly signed one is accepted.
	h.sign(time.Minute, "alice", contract.Approve, "u1", &unsigned)
	h.signReq(2*time.Minute, signedReq(spec, "alice", contract.Approve, "f1", at, mallory), &forged)
	other := spec
	other.Artifact.Digest = "sha256:" + strings.Repeat("cd", 32)
	h.signReq(3*time.Minute, signedReq(other, "alice", contract.Approve, "w1", at, alice), &wrongDigest)
	h.signReq(4*time.Minute, signedReq(spec, "alice", contract.Approve, "g1", at, alice), &good)
	// Bob registers a key after the ceremony opened and signs with it.
	var bob ed25519.PrivateKey
	h.env.RegisterDelayedCallback(func() { bob = registerKey(t, h.store, "bob", 2) }, 5*time.Minute)
	h.env.RegisterDelayedCallback(func() {
		req := signedReq(spec, "bob", contract.Approve, "b1", at.Add(5*time.Minute), bob)
		h.env.UpdateWorkflow(contract.UpdateSign, req.IdempotencyKey, callbackInto(&bobLate), req)
	}, 6*time.Minute)
	h.signal(7*time.Minute, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "d", Phase: "Sealed"})
	h.env.ExecuteWorkflow(contract.WorkflowType, spec)
	for name, err := range map[string]error{"unsigned": unsigned, "forged": forged, "wrong digest": wrongDigest} {
		if code(err) != "bad_signature" {
			t.Errorf("%s: %v, want bad_signature", name, err)
		}
	}
	if !strings.Contains(wrongDigest.Error(), "artifact") {
		t.Errorf("wrong digest reason: %v", wrongDigest)
	}
	if good != nil || bobLate != nil {
		t.Fatalf("good signatures refused: %v / %v", good, bobLate)
	}
	st := h.state()
	if st.Status != contract.StatusSealed {
		t.Fatalf("status %s", st.Status)
	}
	if len(st.Signatures) != 2 || st.Signatures[0].Proof == nil || st.Signatures[0].Statement == "" {
		t.Fatalf("signatures %+v", st.Signatures)
	}
	rows, _ := h.store.Signatures(context.Background(), st.CeremonyID)
	if len(rows) != 2 || rows[0].Statement == "" || rows[0].Proof == "" {
		t.Fatalf("signature rows %+v", rows)
	}
}

func TestRemovedKeyNoLongerSigns(t *testing.T) {
	h := newHarness(t)
	alice := registerKey(t, h.store, "alice", 1)
	spec := testSpec()
	at := time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC)
	var got error
	// The key is removed after opening; the validator still knows it, the main
	// loop reloads and refuses.
	h.env.RegisterDelayedCallback(func() {
		storetest.RemoveKeys(t, h.store, "alice")
	}, time.Minute)
	h.signReq(2*time.Minute, signedReq(spec, "alice", contract.Approve, "g1", at, alice), &got)
	h.signal(3*time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "c", By: "operator"})
	h.env.ExecuteWorkflow(contract.WorkflowType, spec)
	if code(got) != "bad_signature" {
		t.Fatalf("sign with a removed key: %v", got)
	}
}

func TestRemovedKeysAllowSessionSigning(t *testing.T) {
	h := newHarness(t)
	registerKey(t, h.store, "alice", 1)
	registerKey(t, h.store, "bob", 2)
	spec := testSpec()
	var aliceGot, bobGot error
	// Both have keys when the ceremony opens. Alice then removes hers (a lost
	// device) and decides unsigned, as the web app then offers: the main loop
	// reloads her keys and accepts. Bob still has his: unsigned is refused.
	h.env.RegisterDelayedCallback(func() {
		storetest.RemoveKeys(t, h.store, "alice")
	}, time.Minute)
	h.sign(2*time.Minute, "alice", contract.Approve, "a1", &aliceGot)
	h.sign(3*time.Minute, "bob", contract.Approve, "b1", &bobGot)
	h.signal(4*time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "c", By: "operator"})
	h.env.ExecuteWorkflow(contract.WorkflowType, spec)
	if aliceGot != nil {
		t.Fatalf("unsigned decision after removing every key: %v", aliceGot)
	}
	if code(bobGot) != "bad_signature" {
		t.Fatalf("unsigned decision by a witness with a key: %v, want bad_signature", bobGot)
	}
	st := h.state()
	if len(st.Signatures) != 1 || st.Signatures[0].WitnessID != "alice" || st.Signatures[0].Proof != nil {
		t.Fatalf("signatures %+v", st.Signatures)
	}
}
