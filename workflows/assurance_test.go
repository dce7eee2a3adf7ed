package workflows_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
)

// webKey registers a web vouching key in the harness's Ops DB.
func webKey(t *testing.T, s *store.Store, secret string) ed25519.PrivateKey {
	t.Helper()
	priv, err := statement.WebKey([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	pub := statement.WebPublicKey(priv.Public().(ed25519.PublicKey))
	if err := s.RegisterWebKey(context.Background(), pub.KeyID, pub.PublicKey); err != nil {
		t.Fatal(err)
	}
	return priv
}

func vouched(t *testing.T, priv ed25519.PrivateKey, id string, req contract.SignRequest, level contract.Assurance, method string) contract.SignRequest {
	t.Helper()
	v, err := statement.SignVouch(priv, id, req, level, method, time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	req.Vouch = v
	return req
}

func person(t *testing.T, s *store.Store, id string, roles ...string) {
	t.Helper()
	if err := s.EnsureWitness(context.Background(), store.NewPerson{ID: id, DisplayName: id, Roles: roles}, "test"); err != nil {
		t.Fatal(err)
	}
}

// Each signature records how its signer was authenticated, never more than the
// workflow can check: a proof by a registered key is key; the web's vouch by a
// registered web key is session or token; a vouch by any other key, or none
// (a signature sent to Temporal directly), is operator.
func TestAssuranceIsWhatCanBeChecked(t *testing.T) {
	h := newHarness(t)
	spec := testSpec()
	spec.Witnesses = append(spec.Witnesses, contract.WitnessRef{ID: "dave"})
	spec.Quorum.Threshold = 4
	web := webKey(t, h.store, strings.Repeat("s", 32))
	forger, _ := statement.WebKey([]byte(strings.Repeat("x", 32)))
	carolKey := registerKey(t, h.store, "carol", 3)
	at := time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC)
	var e [4]error
	h.signReq(time.Minute, vouched(t, web, spec.ID, contract.SignRequest{IdempotencyKey: "a", WitnessID: "alice", Decision: contract.Approve, Via: "web"},
		contract.AssuranceSession, statement.MethodOIDC), &e[0])
	h.signReq(2*time.Minute, vouched(t, forger, spec.ID, contract.SignRequest{IdempotencyKey: "b", WitnessID: "bob", Decision: contract.Approve, Via: "web"},
		contract.AssuranceSession, statement.MethodOIDC), &e[1])
	h.signReq(3*time.Minute, signedReq(spec, "carol", contract.Approve, "c", at, carolKey), &e[2])
	// A vouch copied onto another request (dave's, with alice's vouch) breaks.
	stolen := vouched(t, web, spec.ID, contract.SignRequest{IdempotencyKey: "d", WitnessID: "alice", Decision: contract.Approve}, contract.AssuranceToken, statement.MethodAPIToken)
	h.signReq(4*time.Minute, contract.SignRequest{IdempotencyKey: "d", WitnessID: "dave", Decision: contract.Approve, Vouch: stolen.Vouch}, &e[3])
	h.signal(5*time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "x", By: "test"})
	h.env.ExecuteWorkflow(contract.WorkflowType, spec)
	for i, err := range e {
		if err != nil {
			t.Fatalf("signature %d refused: %v", i, err)
		}
	}
	want := map[string][2]string{"alice": {"session", "oidc"}, "bob": {"operator", ""}, "carol": {"key", "ed25519"}, "dave": {"operator", ""}}
	st := h.state()
	for _, s := range st.Signatures {
		if got := [2]string{string(s.Assurance), s.AssuranceMethod}; got != want[s.WitnessID] {
			t.Errorf("%s: assurance %v, want %v", s.WitnessID, got, want[s.WitnessID])
		}
	}
	rows, err := h.store.Signatures(context.Background(), st.CeremonyID)
	if err != nil || len(rows) != len(want) {
		t.Fatalf("signature rows: %d, %v; want %d", len(rows), err, len(want))
	}
	for _, r := range rows {
		if r.Assurance != want[r.WitnessID][0] {
			t.Errorf("row of %s: assurance %q", r.WitnessID, r.Assurance)
		}
	}
}

// A web key retired while a ceremony runs (SESSION_SECRET rotated after a
// leak) vouches for nothing from then on, though the ceremony held it since it
// opened: the signature its vouch comes with counts as operator, and a policy
// asking for session assurance refuses it. A vouch made before keeps its
// session assurance.
func TestRetiredWebKeyVouchesNothing(t *testing.T) {
	for _, min := range []contract.Assurance{"", contract.AssuranceSession} {
		t.Run("minAssurance="+string(min), func(t *testing.T) {
			h := newHarness(t)
			spec := testSpec()
			spec.Quorum.Threshold = 3
			spec.Quorum.MinAssurance = min
			web := webKey(t, h.store, strings.Repeat("s", 32))
			keyID := statement.KeyID(web.Public().(ed25519.PublicKey))
			var before, after error
			h.signReq(time.Minute, vouched(t, web, spec.ID, contract.SignRequest{IdempotencyKey: "a", WitnessID: "alice", Decision: contract.Approve, Via: "web"},
				contract.AssuranceSession, statement.MethodOIDC), &before)
			h.env.RegisterDelayedCallback(func() {
				if _, err := h.store.RetireWebKey(context.Background(), keyID, "cli:ops", "SESSION_SECRET leaked"); err != nil {
					t.Error(err)
				}
			}, 2*time.Minute)
			h.signReq(3*time.Minute, vouched(t, web, spec.ID, contract.SignRequest{IdempotencyKey: "b", WitnessID: "bob", Decision: contract.Approve, Via: "web"},
				contract.AssuranceSession, statement.MethodOIDC), &after)
			h.signal(4*time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "x", By: "test"})
			h.env.ExecuteWorkflow(contract.WorkflowType, spec)
			if before != nil {
				t.Fatalf("signature vouched before the retirement refused: %v", before)
			}
			want := map[string]contract.Assurance{"alice": contract.AssuranceSession}
			if min == "" {
				if after != nil {
					t.Fatalf("signature vouched after the retirement refused: %v", after)
				}
				want["bob"] = contract.AssuranceOperator
			} else if code(after) != rules.CodeAssuranceTooLow {
				t.Fatalf("signature vouched after the retirement: %v, want assurance_too_low", after)
			}
			st := h.state()
			if len(st.Signatures) != len(want) {
				t.Fatalf("signatures %+v, want %v", st.Signatures, want)
			}
			for _, s := range st.Signatures {
				if s.Assurance != want[s.WitnessID] {
					t.Errorf("%s: assurance %q, want %q", s.WitnessID, s.Assurance, want[s.WitnessID])
				}
			}
		})
	}
}

// minAssurance key refuses session and operator signatures with
// assurance_too_low and a reason that says what to do, and accepts a key one.
func TestMinAssuranceKey(t *testing.T) {
	h := newHarness(t)
	spec := testSpec()
	spec.Quorum.MinAssurance = contract.AssuranceKey
	web := webKey(t, h.store, strings.Repeat("s", 32))
	alice := registerKey(t, h.store, "alice", 1)
	at := time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC)
	var session, operator, key error
	h.signReq(time.Minute, vouched(t, web, spec.ID, contract.SignRequest{IdempotencyKey: "s", WitnessID: "bob", Decision: contract.Approve},
		contract.AssuranceSession, statement.MethodOIDC), &session)
	h.sign(2*time.Minute, "carol", contract.Approve, "o", &operator)
	h.signReq(3*time.Minute, signedReq(spec, "alice", contract.Approve, "k", at, alice), &key)
	h.signal(4*time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "x", By: "test"})
	h.env.ExecuteWorkflow(contract.WorkflowType, spec)
	for name, err := range map[string]error{"session": session, "operator": operator} {
		if code(err) != rules.CodeAssuranceTooLow || !strings.Contains(err.Error(), "passkey") {
			t.Errorf("%s signature: %v, want assurance_too_low saying to use a passkey", name, err)
		}
	}
	if key != nil {
		t.Fatalf("key signature refused: %v", key)
	}
	if st := h.state(); len(st.Signatures) != 1 || st.Signatures[0].Assurance != contract.AssuranceKey {
		t.Fatalf("signatures %+v", st.Signatures)
	}
}

// The directory decides at the moment of signing: a deactivated person and one
// who lost the role the ceremony lists them with are refused; people the
// directory does not know are not (scripts may name them).
func TestDirectoryStandingAtSigning(t *testing.T) {
	h := newHarness(t)
	person(t, h.store, "alice", "security")
	person(t, h.store, "bob") // lost "release"
	person(t, h.store, "carol", "release")
	if _, _, err := h.store.SetWitnessActive(context.Background(), "carol", false, "ada", "left"); err != nil {
		t.Fatal(err)
	}
	spec := testSpec()
	spec.Witnesses = append(spec.Witnesses, contract.WitnessRef{ID: "stranger"})
	var alice, bob, carol, stranger error
	h.sign(time.Minute, "alice", contract.Approve, "a", &alice)
	h.sign(2*time.Minute, "bob", contract.Approve, "b", &bob)
	h.sign(3*time.Minute, "carol", contract.Approve, "c", &carol)
	h.sign(4*time.Minute, "stranger", contract.Reject, "s", &stranger)
	h.signal(5*time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "x", By: "test"})
	h.env.ExecuteWorkflow(contract.WorkflowType, spec)
	if alice != nil || stranger != nil {
		t.Fatalf("refused: %v / %v", alice, stranger)
	}
	if code(bob) != rules.CodeRoleNotHeld || code(carol) != rules.CodeDeactivated {
		t.Fatalf("bob %v, carol %v", bob, carol)
	}
	st := h.state()
	if len(st.Signatures) != 2 || strings.Join(st.Signatures[0].HeldRoles, ",") != "security" {
		t.Fatalf("signatures %+v", st.Signatures)
	}
}

// A witness the ceremony still waits for who is deactivated flags it for the
// initiator and operators; reactivating them lowers the flag.
func TestDeactivatedWitnessFlagsTheCeremony(t *testing.T) {
	h := newHarness(t)
	h.signal(time.Minute, contract.SignalDirectoryChanged, contract.DirectoryChanged{IdempotencyKey: "d1", WitnessID: "bob", Deactivated: true, By: "ada"})
	var mid contract.State
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(contract.QueryStatus)
		if err == nil {
			_ = v.Get(&mid)
		}
	}, 2*time.Minute)
	h.signal(3*time.Minute, contract.SignalDirectoryChanged, contract.DirectoryChanged{IdempotencyKey: "d2", WitnessID: "bob", Deactivated: false, By: "ada"})
	h.signal(4*time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "x", By: "test"})
	h.env.ExecuteWorkflow(contract.WorkflowType, testSpec())
	if mid.Attention != contract.AttentionWitnessDeactivated || strings.Join(mid.Deactivated, ",") != "bob" {
		t.Fatalf("after deactivation: attention %q deactivated %v", mid.Attention, mid.Deactivated)
	}
	if st := h.state(); st.Attention != "" || len(st.Deactivated) != 0 {
		t.Fatalf("after reactivation: attention %q deactivated %v", st.Attention, st.Deactivated)
	}
	events, _ := h.store.CeremonyCustody(context.Background(), "test/rel-1")
	flagged := false
	for _, e := range events {
		flagged = flagged || (e.Type == "ceremony.attention" && strings.Contains(e.Body, "deactivated"))
	}
	if !flagged {
		t.Fatal("no custody event for the deactivated witness")
	}
	told := false
	for _, m := range h.recorder.Sent() {
		told = told || (m.Kind == "attention" && len(m.To) == 1 && m.To[0].ID == "ivy" && strings.Contains(m.Text, "deactivated"))
	}
	if !told {
		t.Fatalf("the initiator was not told: %+v", h.recorder.Sent())
	}
}

// A deactivated witness stops mattering at quorum: the flag is lowered then, a
// later deactivation raises none, and the substrate timeout can still flag the
// ceremony (it waits for an unflagged one).
func TestDeactivationDoesNotHideSubstrateSilence(t *testing.T) {
	h := newHarness(t)
	query := func(at time.Duration, into *contract.State) {
		h.env.RegisterDelayedCallback(func() {
			if v, err := h.env.QueryWorkflow(contract.QueryStatus); err == nil {
				_ = v.Get(into)
			}
		}, at)
	}
	var flagged, quorum, silent contract.State
	var e1, e2 error
	h.signal(time.Minute, contract.SignalDirectoryChanged, contract.DirectoryChanged{IdempotencyKey: "d1", WitnessID: "carol", Deactivated: true, By: "ada"})
	query(2*time.Minute, &flagged)
	h.sign(3*time.Minute, "alice", contract.Approve, "k1", &e1)
	h.sign(4*time.Minute, "bob", contract.Approve, "k2", &e2)
	query(5*time.Minute, &quorum)
	h.signal(6*time.Minute, contract.SignalDirectoryChanged, contract.DirectoryChanged{IdempotencyKey: "d2", WitnessID: "carol", Deactivated: false, By: "ada"})
	h.signal(7*time.Minute, contract.SignalDirectoryChanged, contract.DirectoryChanged{IdempotencyKey: "d3", WitnessID: "carol", Deactivated: true, By: "ada"})
	query(25*time.Hour, &silent)
	h.signal(26*time.Hour, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "s1", Phase: "Sealed"})
	h.env.ExecuteWorkflow(contract.WorkflowType, testSpec())
	if e1 != nil || e2 != nil {
		t.Fatalf("signatures refused: %v, %v", e1, e2)
	}
	if flagged.Attention != contract.AttentionWitnessDeactivated {
		t.Fatalf("after deactivation: attention %q", flagged.Attention)
	}
	if quorum.Status != contract.StatusQuorumReached || quorum.Attention != "" {
		t.Fatalf("at quorum: %s attention %q", quorum.Status, quorum.Attention)
	}
	if silent.Attention != contract.AttentionSubstrateTimeout {
		t.Fatalf("after the decision timeout: attention %q, want %s", silent.Attention, contract.AttentionSubstrateTimeout)
	}
	if st := h.state(); st.Status != contract.StatusSealed {
		t.Fatalf("final %s", st.Status)
	}
	if ct := custodyTypes(t, h.store, "test/rel-1"); ct["ceremony.attention"] != 2 {
		t.Fatalf("attention events %d, want 2 (deactivation, substrate silence): %v", ct["ceremony.attention"], ct)
	}
}

// Raising the minimum assurance by amendment changes what a statement signs
// (the policy hash), so it voids the signatures collected under the old one.
func TestRaisedMinAssuranceVoids(t *testing.T) {
	h := newHarness(t)
	spec := testSpec()
	spec.Quorum.Threshold = 3
	var e1 error
	h.sign(time.Minute, "alice", contract.Approve, "k1", &e1)
	g2 := spec
	g2.Quorum.MinAssurance = contract.AssuranceSession
	h.signal(2*time.Minute, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "s2", Generation: 2, Spec: g2})
	h.signal(3*time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "c", By: "operator", Reason: "test over"})
	h.env.ExecuteWorkflow(contract.WorkflowType, spec)
	if e1 != nil {
		t.Fatal(e1)
	}
	st := h.state()
	if len(st.Amendments) != 1 || len(st.Signatures) != 0 || len(st.Voided) != 1 || st.Epoch != 1 {
		t.Fatalf("amendments %+v signatures %d voided %d epoch %d", st.Amendments, len(st.Signatures), len(st.Voided), st.Epoch)
	}
	if got := strings.Join(st.Amendments[0].Changes, "; "); !strings.Contains(got, "assurance session or stronger") {
		t.Fatalf("changes %q do not say the assurance", got)
	}
}

// A spec that names a template and lists no witnesses is completed from the
// template and the directory when it opens; one the initiator may not open,
// or naming a template that does not exist, is rejected.
func TestTemplateCompletesSpecAtOpening(t *testing.T) {
	for _, tc := range []struct {
		name, initiator, template string
		want                      contract.Status
		reason                    string
	}{
		{"resolved", "ivy", "release", contract.StatusCollecting, ""},
		{"not allowed", "mallory", "release", contract.StatusRejected, "may not open"},
		{"no such template", "ivy", "nothing", contract.StatusRejected, "no template"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			person(t, h.store, "ivy", "initiator")
			person(t, h.store, "mallory", "release-watcher")
			person(t, h.store, "alice", "security")
			person(t, h.store, "bob", "release")
			person(t, h.store, "carol", "release")
			if _, _, err := h.store.ApplyTemplate(context.Background(), rules.Template{Name: "release", Kind: contract.KindRelease,
				Witnesses: rules.TemplateWitnesses{Roles: []string{"security", "release"}},
				Quorum:    contract.Quorum{Threshold: 2, Roles: map[string]int{"security": 1}},
				OpenedBy:  []string{"initiator"}}, "test"); err != nil {
				t.Fatal(err)
			}
			spec := testSpec()
			spec.Initiator, spec.Witnesses, spec.Quorum = tc.initiator, nil, contract.Quorum{}
			spec.Template = &contract.TemplateRef{Name: tc.template}
			h.signal(time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "x", By: "test"})
			var opened contract.State
			h.env.RegisterDelayedCallback(func() {
				if v, err := h.env.QueryWorkflow(contract.QueryStatus); err == nil {
					_ = v.Get(&opened)
				}
			}, 30*time.Second)
			h.env.ExecuteWorkflow(contract.WorkflowType, spec)
			st := h.state()
			if tc.want == contract.StatusRejected {
				if st.Status != contract.StatusRejected || !strings.Contains(st.Reason, tc.reason) {
					t.Fatalf("status %s reason %q", st.Status, st.Reason)
				}
				return
			}
			if opened.Status != contract.StatusCollecting || len(opened.Spec.Witnesses) != 3 || opened.Spec.Quorum.Threshold != 2 ||
				opened.Spec.Template == nil || opened.Spec.Template.Version != 1 || strings.Join(opened.Pending, ",") != "alice,bob,carol" {
				t.Fatalf("opened %+v", opened)
			}
		})
	}
}

// A cluster amendment of a ceremony opened from a template names the template
// again and lists no witnesses: it is completed the same way, so a moved
// deadline keeps the witnesses and the signatures; naming a template that does
// not exist is refused and changes nothing.
func TestTemplateCompletesAmendment(t *testing.T) {
	for _, tc := range []struct {
		name, template string
		wantGen        int64
	}{{"resolved", "release", 2}, {"no such template", "nothing", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			person(t, h.store, "ivy", "initiator")
			person(t, h.store, "alice", "security")
			person(t, h.store, "bob", "release")
			if _, _, err := h.store.ApplyTemplate(context.Background(), rules.Template{Name: "release", Kind: contract.KindRelease,
				Witnesses: rules.TemplateWitnesses{Roles: []string{"security", "release"}},
				Quorum:    contract.Quorum{Threshold: 2}, OpenedBy: []string{"initiator"}}, "test"); err != nil {
				t.Fatal(err)
			}
			spec := testSpec()
			spec.Initiator, spec.Witnesses, spec.Quorum = "ivy", nil, contract.Quorum{}
			spec.Template = &contract.TemplateRef{Name: "release"}
			spec.Source, spec.Generation = "cluster", 1
			var signErr error
			h.sign(time.Minute, "alice", contract.Approve, "a1", &signErr)
			amended := spec
			amended.Deadline = spec.Deadline.Add(24 * time.Hour)
			amended.Template = &contract.TemplateRef{Name: tc.template}
			h.signal(2*time.Minute, contract.SignalSpecChanged, contract.SpecChanged{IdempotencyKey: "g2", Generation: 2, Spec: amended})
			var st contract.State
			h.env.RegisterDelayedCallback(func() {
				if v, err := h.env.QueryWorkflow(contract.QueryStatus); err == nil {
					_ = v.Get(&st)
				}
			}, 3*time.Minute)
			h.signal(4*time.Minute, contract.SignalCancel, contract.Cancel{IdempotencyKey: "x", By: "test"})
			h.env.ExecuteWorkflow(contract.WorkflowType, spec)
			if signErr != nil {
				t.Fatal(signErr)
			}
			if st.Generation != tc.wantGen || st.Status != contract.StatusCollecting || len(st.Spec.Witnesses) != 2 ||
				len(st.Signatures) != 1 || st.Spec.Template == nil || st.Spec.Template.Name != "release" {
				t.Fatalf("after the amendment: generation %d, %s, witnesses %v, signatures %d, template %+v",
					st.Generation, st.Status, st.Spec.Witnesses, len(st.Signatures), st.Spec.Template)
			}
			if want := spec.Deadline.Add(24 * time.Hour); tc.wantGen == 2 && !st.Spec.Deadline.Equal(want) {
				t.Fatalf("deadline %s, want %s", st.Spec.Deadline, want)
			}
		})
	}
}
