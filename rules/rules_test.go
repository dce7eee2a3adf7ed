package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
)

var (
	now    = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	digest = "sha256:" + strings.Repeat("ab", 32)
)

func good() contract.Spec {
	return contract.Spec{
		ID: "default/release-web", Kind: "release", Artifact: contract.Artifact{Name: "web", Digest: digest}, Initiator: "dora",
		Witnesses: []contract.WitnessRef{{ID: "alice", Role: "maintainer"}, {ID: "bob", Role: "maintainer"}, {ID: "carol", Role: "security"}},
		Quorum:    contract.Quorum{Threshold: 2, Roles: map[string]int{"maintainer": 1}, Veto: []string{"security"}},
		Deadline:  now.Add(24 * time.Hour),
	}
}

func TestValidateSpec(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	cases := []struct {
		name   string
		mutate func(*contract.Spec)
		field  string // field of the problem; "" means valid
		want   string // substring of its message
	}{
		{"valid", func(*contract.Spec) {}, "", ""},
		{"longest valid id", func(s *contract.Spec) { s.ID = long(MaxNamespace) + "/" + long(MaxName) }, "", ""},
		{"longest valid texts", func(s *contract.Spec) {
			s.Title, s.Description, s.Artifact.Name, s.Artifact.URI = long(MaxTitle), long(MaxDescription), long(MaxArtifactName), "oci://"+long(MaxURI-6)
			s.Initiator, s.Witnesses[0].ID, s.Witnesses[0].Role = long(MaxPersonID), strings.Repeat("y", MaxPersonID), long(MaxRole)
			s.Quorum.Roles = map[string]int{long(MaxRole): 1}
		}, "", ""},
		{"deadline years ahead", func(s *contract.Spec) { s.Deadline = now.Add(4 * MaxDeadlineAhead) }, "", ""},
		{"id without namespace", func(s *contract.Spec) { s.ID = "release-web" }, "id", "<namespace>/<name>"},
		{"id upper case", func(s *contract.Spec) { s.ID = "default/Release" }, "id", "lowercase"},
		{"id too long", func(s *contract.Spec) { s.ID = "default/" + long(MaxName+1) }, "id", "at most 253"},
		{"unknown kind", func(s *contract.Spec) { s.Kind = "coronation" }, "kind", `"coronation" is not one of`},
		{"title too long", func(s *contract.Spec) { s.Title = long(MaxTitle + 1) }, "title", "200"},
		{"description too long", func(s *contract.Spec) { s.Description = long(MaxDescription + 1) }, "description", "4096"},
		{"no artifact name", func(s *contract.Spec) { s.Artifact.Name = " " }, "artifact.name", "empty"},
		{"artifact name too long", func(s *contract.Spec) { s.Artifact.Name = long(MaxArtifactName + 1) }, "artifact.name", "253"},
		{"bad digest", func(s *contract.Spec) { s.Artifact.Digest = "sha256:ABC" }, "artifact.digest", "sha256:<64"},
		{"digest upper case", func(s *contract.Spec) { s.Artifact.Digest = strings.ToUpper(digest) }, "artifact.digest", ""},
		{"digest wrong algorithm", func(s *contract.Spec) { s.Artifact.Digest = "md5:" + strings.Repeat("a", 64) }, "artifact.digest", ""},
		{"uri too long", func(s *contract.Spec) { s.Artifact.URI = long(MaxURI + 1) }, "artifact.uri", "2048"},
		{"no initiator", func(s *contract.Spec) { s.Initiator = "" }, "initiator", "empty"},
		{"initiator too long", func(s *contract.Spec) { s.Initiator = long(MaxPersonID + 1) }, "initiator", "254"},
		{"no witnesses", func(s *contract.Spec) { s.Witnesses = nil }, "witnesses", "empty"},
		{"too many witnesses", func(s *contract.Spec) {
			for i := range MaxWitnesses {
				s.Witnesses = append(s.Witnesses, contract.WitnessRef{ID: strings.Repeat("w", i+1)})
			}
		}, "witnesses", "more than 100"},
		{"empty witness id", func(s *contract.Spec) { s.Witnesses[1].ID = "" }, "witnesses[1].id", "empty"},
		{"witness id too long", func(s *contract.Spec) { s.Witnesses[1].ID = long(MaxPersonID + 1) }, "witnesses[1].id", "254"},
		{"role too long", func(s *contract.Spec) { s.Witnesses[2].Role = long(MaxRole + 1) }, "witnesses[2].role", "63"},
		{"past deadline", func(s *contract.Spec) { s.Deadline = now.Add(-time.Hour) }, "deadline", "in the past"},
		{"deadline now", func(s *contract.Spec) { s.Deadline = now }, "deadline", "in the past"},
		{"missing deadline", func(s *contract.Spec) { s.Deadline = time.Time{} }, "deadline", "missing"},
		{"zero threshold", func(s *contract.Spec) { s.Quorum.Threshold = 0 }, "quorum.threshold", "at least 1"},
		{"threshold above witnesses", func(s *contract.Spec) { s.Quorum.Threshold = 4 }, "quorum.threshold", "4 approvals needed, at most 3"},
		{"threshold counts a person once", func(s *contract.Spec) {
			s.Witnesses = []contract.WitnessRef{{ID: "alice", Role: "maintainer"}, {ID: "alice", Role: "security"}}
			s.Quorum = contract.Quorum{Threshold: 2}
		}, "quorum.threshold", "2 approvals needed, at most 1"},
		{"initiator never counts", func(s *contract.Spec) {
			s.Witnesses = append(s.Witnesses, contract.WitnessRef{ID: "dora"})
			s.Quorum = contract.Quorum{Threshold: 4}
		}, "quorum.threshold", "4 approvals needed, at most 3"},
		{"role minimum unreachable", func(s *contract.Spec) { s.Quorum.Roles["security"] = 2 }, "quorum.roles[security]", "role security needs 2"},
		{"uri not a location", func(s *contract.Spec) { s.Artifact.URI = "latest" }, "artifact.uri", "not a location"},
		{"unknown role", func(s *contract.Spec) { s.Quorum.Roles["auditor"] = 1 }, "quorum.roles[auditor]", `"auditor", which no witness holds`},
		{"zero role minimum", func(s *contract.Spec) { s.Quorum.Roles["maintainer"] = 0 }, "quorum.roles[maintainer]", "at least 1"},
		{"unknown veto role", func(s *contract.Spec) { s.Quorum.Veto = []string{"legal"} }, "quorum.veto[0]", `"legal"`},
		{"too many role minimums", func(s *contract.Spec) {
			for i := range MaxPolicyRoles + 1 {
				s.Quorum.Roles[strings.Repeat("r", i+1)] = 1
			}
		}, "quorum.roles", "more than 20"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := good()
			c.mutate(&s)
			ps := ValidateSpec(s, now)
			if c.field == "" {
				if len(ps) != 0 {
					t.Fatalf("valid spec refused: %v", ps)
				}
				return
			}
			on := ps.On(c.field)
			if len(on) == 0 || !strings.Contains(on.Error(), c.want) {
				t.Fatalf("want a problem on %s containing %q, got %v", c.field, c.want, ps)
			}
		})
	}
}

// Problems name their field so forms can show each next to its input.
func TestProblemsOn(t *testing.T) {
	s := good()
	s.Artifact.Digest, s.Witnesses[0].ID = "x", ""
	ps := ValidateSpec(s, now)
	if len(ps.On("artifact")) != 1 || len(ps.On("witnesses")) != 1 || len(ps.On("witnesses[0].id")) != 1 || len(ps.On("kind")) != 0 {
		t.Fatalf("On: %v", ps)
	}
	if ps.Err() == nil || Problems(nil).Err() != nil {
		t.Fatal("Err")
	}
}

func TestMembersPendingTally(t *testing.T) {
	s := good()
	s.Witnesses = append(s.Witnesses, contract.WitnessRef{ID: "alice", Role: "security"}, contract.WitnessRef{ID: "dora", Role: "maintainer"})
	ms := Members(s)
	if len(ms) != 3 || ms[0].ID != "alice" || strings.Join(ms[0].Roles, ",") != "maintainer,security" {
		t.Fatalf("members %+v", ms)
	}
	sigs := []contract.Signature{{WitnessID: "carol", Decision: contract.Approve}, {WitnessID: "alice", Decision: contract.Approve}}
	if p := Pending(s, sigs); strings.Join(p, ",") != "bob" {
		t.Fatalf("pending %v", p)
	}
	if res := Tally(s, sigs); res.Approvals != 2 || res.Verdict != "met" {
		t.Fatalf("tally %+v", res)
	}
	if ids := WitnessIDs(s); strings.Join(ids, ",") != "alice,bob,carol,dora" {
		t.Fatalf("witness ids %v", ids)
	}
	if Title(s) != "release of web" {
		t.Fatal(Title(s))
	}
}

func TestMaySign(t *testing.T) {
	st := contract.State{Spec: good(), Status: contract.StatusCollecting,
		Signatures: []contract.Signature{{WitnessID: "bob", Decision: contract.Reject, SignedAt: now}}}
	st.Spec.Witnesses = append(st.Spec.Witnesses, contract.WitnessRef{ID: "dora"})
	for id, want := range map[string]string{"alice": "", "bob": CodeAlreadySigned, "dora": CodeNotAWitness, "mallory": CodeUnknownWitness} {
		r := MaySign(st, id)
		if (r == nil) != (want == "") || (r != nil && r.Code != want) {
			t.Errorf("%s: got %v, want %q", id, r, want)
		}
	}
	st.Status = contract.StatusQuorumReached
	if r := MaySign(st, "alice"); r == nil || r.Code != CodeClosed {
		t.Errorf("closed ceremony: %v", r)
	}
}

func TestCheckSignRequest(t *testing.T) {
	ok := contract.SignRequest{IdempotencyKey: "k", WitnessID: "alice", Decision: contract.Approve}
	if ps := CheckSignRequest(ok); ps != nil {
		t.Fatal(ps)
	}
	for field, req := range map[string]contract.SignRequest{
		"idempotencyKey": {WitnessID: "alice", Decision: contract.Approve},
		"witnessId":      {IdempotencyKey: "k", WitnessID: " ", Decision: contract.Approve},
		"decision":       {IdempotencyKey: "k", WitnessID: "alice", Decision: "abstain"},
		"comment":        {IdempotencyKey: "k", WitnessID: "alice", Decision: contract.Reject, Comment: strings.Repeat("c", MaxComment+1)},
		"via":            {IdempotencyKey: "k", WitnessID: "alice", Decision: contract.Reject, Via: strings.Repeat("v", MaxVia+1)},
	} {
		if ps := CheckSignRequest(req); len(ps) != 1 || ps[0].Field != field {
			t.Errorf("%s: %v", field, ps)
		}
	}
}

func TestCeremonyIDAndDecision(t *testing.T) {
	for _, id := range []string{"demo/release-guildhall-v0-1-0", "web/x", "a/b.c"} {
		if err := CeremonyID(id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	for _, id := range []string{"", "demo", "/x", "demo/", "Demo/x", "demo/x/y", "demo/-x"} {
		if CeremonyID(id) == nil {
			t.Errorf("%q accepted", id)
		}
	}
	for ns, want := range map[string]bool{"web": true, "team-a1": true, strings.Repeat("a", MaxNamespace): true,
		"": false, "Web": false, "-web": false, "web-": false, "a.b": false, "a/b": false, strings.Repeat("a", MaxNamespace+1): false} {
		if NamespaceOK(ns) != want {
			t.Errorf("NamespaceOK(%q) = %v", ns, !want)
		}
	}
	if _, err := ParseDecision("maybe"); err == nil || !strings.Contains(err.Error(), `"approve" or "reject"`) {
		t.Error(err)
	}
}

// The reachability rule says exactly what quorum.Evaluate calls impossible before
// anyone signs, over many small policies.
func TestReachabilityAgreesWithQuorum(t *testing.T) {
	ids := []string{"a", "b", "c", "i"}
	roleNames := []string{"", "x", "y"}
	n := 0
	for mask := range 1 << 8 { // who is listed with which role: 2 bits per person
		var ws []contract.WitnessRef
		for p, id := range ids {
			if r := (mask >> (2 * p)) & 3; r > 0 {
				ws = append(ws, contract.WitnessRef{ID: id, Role: roleNames[r-1]})
			}
		}
		if len(ws) == 0 {
			continue
		}
		for th := 1; th <= 4; th++ {
			for _, roles := range []map[string]int{nil, {"x": 1}, {"x": 2}, {"x": 1, "y": 1}} {
				s := good()
				s.Initiator, s.Witnesses, s.Quorum = "i", ws, contract.Quorum{Threshold: th, Roles: roles}
				if !heldAll(ws, roles) {
					continue
				}
				n++
				impossible := Tally(s, nil).Verdict == "impossible"
				if got := len(reachability(s)) > 0; got != impossible {
					t.Fatalf("%+v: reachability problems %v, quorum says impossible=%v", s.Quorum, reachability(s), impossible)
				}
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d cases", n)
	}
}

func heldAll(ws []contract.WitnessRef, roles map[string]int) bool {
	for r := range roles {
		found := false
		for _, w := range ws {
			found = found || w.Role == r
		}
		if !found {
			return false
		}
	}
	return true
}

func TestComposerDeadline(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "", MaxDeadlineAhead: "", MinDeadlineLead: "at least 5 minutes", MaxDeadlineAhead + time.Second: "within 366 days",
	} {
		err := ComposerDeadline(now.Add(d), now)
		if (err == nil) != (want == "") || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%v: %v, want %q", d, err, want)
		}
	}
}
