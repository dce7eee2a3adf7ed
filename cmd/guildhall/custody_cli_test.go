package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
)

// runCLI runs the guildhall command line in-process.
func runCLI(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// TestWitnessKeyToEvidence walks the offline-witness path end to end on the
// embedded database: keygen, add-key, sign from a spec file, the workflow's check
// (statement.VerifyRequest with LoadSigningKeys), verify, evidence export and
// verify, a flipped byte, chronicle import, and tampering caught by verify.
func TestWitnessKeyToEvidence(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DATABASE_URL", "sqlite:"+filepath.Join(dir, "ops.db"))
	t.Setenv("LOG_FORMAT", "text")
	ctx := context.Background()
	if _, _, err := runCLI(t, "", "migrate", "up"); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "alice.json")
	out, _, err := runCLI(t, "", "keygen", "--witness", "alice@guildhouse.dev", "--out", keyPath)
	if err != nil || !strings.Contains(out, "key id:     ed25519:") || !strings.Contains(out, "guildhall witness add-key alice@guildhouse.dev ") {
		t.Fatalf("keygen: %q %v", out, err)
	}
	if st, _ := os.Stat(keyPath); st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %o", st.Mode().Perm())
	}
	if _, _, err := runCLI(t, "", "keygen", "--witness", "alice@guildhouse.dev", "--out", keyPath); err == nil || !strings.Contains(err.Error(), "never overwritten") {
		t.Fatalf("keygen over an existing file: %v", err)
	}
	if out, _, err := runCLI(t, "", "witness", "add-key", "alice@guildhouse.dev", keyPath); err == nil || !strings.Contains(err.Error(), "--create") {
		t.Fatalf("add-key for an unknown witness: %q %v", out, err)
	}
	if _, _, err := runCLI(t, "", "witness", "add-key", "alice@guildhouse.dev", keyPath, "--create", "--name", "Alice"); err != nil {
		t.Fatal(err)
	}

	s, err := store.Open(ctx, store.Options{URL: os.Getenv("DATABASE_URL")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	spec := contract.Spec{ID: "demo/rel-1", Kind: "release", Artifact: contract.Artifact{Name: "guildhall", Digest: "sha256:" + strings.Repeat("4f", 32)},
		Initiator: "ivy@guildhouse.dev", Witnesses: []contract.WitnessRef{{ID: "alice@guildhouse.dev", Role: "security"}, {ID: "bob@guildhouse.dev"}},
		Quorum: contract.Quorum{Threshold: 1}, Deadline: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}
	opened := time.Now().Add(-time.Minute).UTC()
	if err := s.RecordOpened(ctx, store.Opened{Spec: spec, WorkflowID: "ceremony/demo/rel-1", OpenedAt: opened}); err != nil {
		t.Fatal(err)
	}
	specJSON, _ := json.Marshal(contract.State{CeremonyID: spec.ID, Spec: spec, Status: contract.StatusCollecting, OpenedAt: opened})
	out, stderr, err := runCLI(t, string(specJSON), "sign", "demo/rel-1", "--key", keyPath, "--decision", "approve", "--comment", "lgtm", "--state", "-")
	if err != nil || !strings.Contains(stderr, "I, alice@guildhouse.dev, approve the release ceremony demo/rel-1") {
		t.Fatalf("sign: %q %q %v", out, stderr, err)
	}
	var req contract.SignRequest
	if err := json.Unmarshal([]byte(out), &req); err != nil || req.Proof == nil || req.Via != "cli" {
		t.Fatalf("sign payload %q: %v", out, err)
	}
	// What the workflow's validator does with it.
	keys, err := (&activities.Activities{Store: s}).LoadSigningKeys(ctx, []string{"alice@guildhouse.dev", "bob@guildhouse.dev"})
	if err != nil {
		t.Fatal(err)
	}
	state := contract.State{CeremonyID: spec.ID, Spec: spec, Status: contract.StatusCollecting, OpenedAt: opened}
	if err := statement.VerifyRequest(state, req, keys, time.Now()); err != nil {
		t.Fatalf("the validator refuses the CLI's signature: %v", err)
	}
	forged := req
	forged.Decision = contract.Reject
	if err := statement.VerifyRequest(state, forged, keys, time.Now()); err == nil {
		t.Fatal("the validator accepted a changed decision")
	}
	if _, _, err := runCLI(t, string(specJSON), "sign", "demo/rel-2", "--key", keyPath, "--decision", "approve", "--state", "-"); err == nil {
		t.Fatal("sign accepted a state of another ceremony")
	}
	// The workflow's rules refuse before anything is signed (rules.MaySign,
	// rules.CommentProblem); a closed ceremony in a state file is a warning.
	signWith := func(st contract.State, extra ...string) (string, string, error) {
		t.Helper()
		b, _ := json.Marshal(st)
		return runCLI(t, string(b), append([]string{"sign", st.Spec.ID, "--key", keyPath, "--decision", "approve", "--state", "-"}, extra...)...)
	}
	ownSpec := spec
	ownSpec.Initiator = "alice@guildhouse.dev"
	signed := contract.State{CeremonyID: spec.ID, Spec: spec, Status: contract.StatusCollecting, OpenedAt: opened,
		Signatures: []contract.Signature{{WitnessID: "alice@guildhouse.dev", Decision: contract.Approve, SignedAt: opened}}}
	for what, c := range map[string]struct {
		st    contract.State
		extra []string
		want  string
	}{
		"the initiator":     {contract.State{CeremonyID: spec.ID, Spec: ownSpec, Status: contract.StatusCollecting}, nil, "the initiator cannot sign"},
		"signed already":    {signed, nil, "already signed"},
		"not UTF-8 comment": {contract.State{CeremonyID: spec.ID, Spec: spec, Status: contract.StatusCollecting}, []string{"--comment", "ok\xff"}, "--comment: not valid text"},
	} {
		if out, _, err := signWith(c.st, c.extra...); err == nil || !strings.Contains(err.Error(), c.want) || out != "" {
			t.Errorf("sign, %s: %q %v; want a refusal saying %q and no payload", what, out, err, c.want)
		}
	}
	if out, stderr, err := signWith(contract.State{CeremonyID: spec.ID, Spec: spec, Status: contract.StatusSealed}); err != nil || out == "" ||
		!strings.Contains(stderr, "warning: the ceremony is sealed") {
		t.Fatalf("sign a sealed ceremony from a state file: %q %q %v", out, stderr, err)
	}
	if err := s.RecordSignature(ctx, spec.ID, contract.Signature{WitnessID: req.WitnessID,
		Decision: req.Decision, Comment: req.Comment, SignedAt: time.Now().UTC(), IdempotencyKey: req.IdempotencyKey,
		Statement: req.Statement, Proof: req.Proof, Via: req.Via, Assurance: contract.AssuranceKey, AssuranceMethod: "ed25519"}, store.Tally{Approvals: 1}); err != nil {
		t.Fatal(err)
	}
	for i, st := range []contract.Status{contract.StatusQuorumReached, contract.StatusSealed} {
		if err := s.RecordStatus(ctx, spec.ID, store.StatusChange{Status: st, At: time.Now().UTC(), Seq: i + 1}); err != nil {
			t.Fatal(err)
		}
	}

	out, stderr, err = runCLI(t, "", "verify", "--progress-every", "1")
	if err != nil || !strings.Contains(out, "custody chain verified") || !strings.Contains(stderr, "links checked") {
		t.Fatalf("verify: %q %q %v", out, stderr, err)
	}
	head := strings.TrimSpace(out[strings.Index(out, "head: ")+6:])
	if _, _, err := runCLI(t, "", "verify", "-q", "--anchor", head); err != nil {
		t.Fatalf("verify with the head as anchor: %v", err)
	}
	bundle := filepath.Join(dir, "evidence.json")
	if out, _, err := runCLI(t, "", "evidence", "export", "demo/rel-1", "-o", bundle); err != nil || !strings.Contains(out, "wrote") {
		t.Fatalf("export: %q %v", out, err)
	}
	out, _, err = runCLI(t, "", "evidence", "verify", bundle)
	if err != nil || !strings.Contains(out, "evidence bundle OK: ceremony demo/rel-1, sealed") || !strings.Contains(out, "alice@guildhouse.dev approve (assurance key (ed25519), signed with ed25519:") {
		t.Fatalf("evidence verify: %q %v", out, err)
	}
	data, _ := os.ReadFile(bundle)
	i := bytes.LastIndex(data, []byte(`"comment":"lgtm"`)) // in the signatures section
	data[i+len(`"comment":"l`)] ^= 1
	_, stderr, err = runCLI(t, string(data), "evidence", "verify", "-")
	if !errors.Is(err, errReported) || !strings.Contains(stderr, "FAILED") || !strings.Contains(stderr, "comment") {
		t.Fatalf("altered bundle: %q %v", stderr, err)
	}

	events := filepath.Join(dir, "chronicle.jsonl")
	_ = os.WriteFile(events, []byte(`{"id":"c-1","type":"artifact.revoked","time":"2026-11-27T10:00:00Z","artifact":{"name":"guildhall","digest":"`+spec.Artifact.Digest+`"}}`+"\n"+
		`{"id":"c-2","type":"bad type","time":"2026-11-27T10:00:00Z"}`+"\n"), 0o600)
	out, stderr, err = runCLI(t, "", "chronicle", "import", events)
	if !errors.Is(err, errReported) || !strings.Contains(out, "1 projected") || !strings.Contains(stderr, "line 2 (c-2):") {
		t.Fatalf("chronicle import: %q %q %v", out, stderr, err)
	}
	if out, _, err := runCLI(t, "", "chronicle", "import", events); !strings.Contains(out, "0 projected, 1 already known, 1 failed") {
		t.Fatalf("chronicle replay: %q %v", out, err)
	}
	if a, _ := s.GetArtifact(ctx, spec.Artifact.Digest); a.State != store.ArtifactRevoked {
		t.Fatalf("artifact after chronicle revocation: %s", a.State)
	}

	// Tamper as someone with database access would, after removing the guard.
	for _, q := range []string{"DROP TRIGGER custody_events_no_update", "UPDATE custody_events SET body = replace(body, 'lgtm', 'LGTM') WHERE type = 'signature.accepted'"} {
		if _, err := s.DB.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_, stderr, err = runCLI(t, "", "verify")
	if !errors.Is(err, errReported) || !strings.Contains(stderr, "custody chain BROKEN at seq") || !strings.Contains(stderr, "stored hash does not match") {
		t.Fatalf("verify after tampering: %q %v", stderr, err)
	}
	if _, _, err := runCLI(t, "", "evidence", "export", "demo/rel-1", "-o", filepath.Join(dir, "x.json")); err == nil || !strings.Contains(err.Error(), "broken chain") {
		t.Fatalf("export from a tampered chain: %v", err)
	}
}
