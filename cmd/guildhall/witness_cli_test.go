package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/worker"
)

// useEnv sets the tools' environment for one test; the configuration, read once
// per process, is read again.
func useEnv(t *testing.T, kv ...string) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		t.Setenv(kv[i], kv[i+1])
	}
	toolConfig = sync.OnceValues(loadToolConfig)
	t.Cleanup(func() { toolConfig = sync.OnceValues(loadToolConfig) })
}

// cli runs a command that must succeed and returns its output.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := runCLI(t, "", args...)
	if err != nil {
		t.Fatalf("guildhall %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// refused runs a command that must fail, and returns its error's text.
func refused(t *testing.T, args ...string) string {
	t.Helper()
	out, _, err := runCLI(t, "", args...)
	if err == nil {
		t.Fatalf("guildhall %s succeeded: %s", strings.Join(args, " "), out)
	}
	return err.Error()
}

// TestWitnessCLI keeps the directory from the command line on the embedded
// database; Temporal is unreachable throughout, which only matters when an
// open ceremony lists the person.
func TestWitnessCLI(t *testing.T) {
	dir := t.TempDir()
	useEnv(t, "DATABASE_URL", "sqlite:"+filepath.Join(dir, "ops.db"), "LOG_FORMAT", "text", "TEMPORAL_ADDRESS", "127.0.0.1:1")
	ctx := context.Background()
	cli(t, "migrate", "up")

	if out := cli(t, "witness", "add", "ada@example.org", "--name", "Ada Archer", "--role", "admin"); !strings.Contains(out, "added ada@example.org (Ada Archer) with roles admin") {
		t.Fatalf("add: %q", out)
	}
	cli(t, "witness", "add", "bob@example.org", "--name", "Bob", "--role", "release,security")
	if msg := refused(t, "witness", "add", "bob@example.org"); !strings.Contains(msg, "already in the directory") {
		t.Fatalf("add twice: %s", msg)
	}
	if msg := refused(t, "witness", "add", "carol example", "--email", "carol@", "--role", "Release"); !strings.Contains(msg, "id: ") ||
		!strings.Contains(msg, "email: ") || !strings.Contains(msg, "roles: ") {
		t.Fatalf("a bad entry: %s", msg)
	}

	s, err := store.Open(ctx, store.Options{URL: os.Getenv("DATABASE_URL")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bob, _ := s.GetWitness(ctx, "bob@example.org")
	if !slices.Equal(bob.AdminRoles, []string{"release", "security"}) || bob.Email != "bob@example.org" {
		t.Fatalf("bob: %+v", bob)
	}
	// A login bound bob and gave him legal from the identity provider.
	if _, err := s.SyncIdentity(ctx, store.Identity{Issuer: "https://id.example", Subject: "kc-bob", Email: "bob@example.org"}, []string{"legal"}, false); err != nil {
		t.Fatal(err)
	}
	if out := cli(t, "witness", "set", "bob@example.org", "--role", "release"); !strings.Contains(out, "legal(idp), release(admin)") {
		t.Fatalf("set --role: %q", out)
	}
	if out := cli(t, "witness", "set", "bob@example.org", "--role", "release"); !strings.Contains(out, "unchanged") {
		t.Fatalf("set the same: %q", out)
	}
	if msg := refused(t, "witness", "set", "bob@example.org"); !strings.Contains(msg, "nothing to change") {
		t.Fatalf("set nothing: %s", msg)
	}
	if msg := refused(t, "witness", "set", "ada@example.org", "--no-roles"); !strings.Contains(msg, "last active admin") {
		t.Fatalf("the last admin: %s", msg)
	}
	cli(t, "witness", "set", "bob@example.org", "--name", "Bob Brightwater", "--no-roles")
	if bob, _ = s.GetWitness(ctx, "bob@example.org"); len(bob.AdminRoles) != 0 || !slices.Equal(bob.Roles, []string{"legal"}) || bob.DisplayName != "Bob Brightwater" {
		t.Fatalf("after --no-roles: %+v", bob)
	}

	out := cli(t, "witness", "list")
	if !strings.Contains(out, "ID") || !strings.Contains(out, "ada@example.org") || !strings.Contains(out, "admin(admin)") || !strings.Contains(out, "legal(idp)") {
		t.Fatalf("list:\n%s", out)
	}
	if out := cli(t, "witness", "list", "--role", "admin"); strings.Contains(out, "bob@example.org") || !strings.Contains(out, "ada@example.org") {
		t.Fatalf("list --role admin:\n%s", out)
	}

	// Deactivating someone no open ceremony lists needs no Temporal.
	if msg := refused(t, "witness", "deactivate", "bob@example.org"); !strings.Contains(msg, "reason: is required") {
		t.Fatalf("no reason: %s", msg)
	}
	out, stderr, err := runCLI(t, "", "witness", "deactivate", "bob@example.org", "--reason", "left the company")
	if err != nil || !strings.Contains(out, "deactivated bob@example.org") || stderr != "" {
		t.Fatalf("deactivate: %q %q %v", out, stderr, err)
	}
	if out := cli(t, "witness", "list"); strings.Contains(out, "bob@example.org") {
		t.Fatalf("a deactivated person listed without --all:\n%s", out)
	}
	if out := cli(t, "witness", "list", "--all"); !strings.Contains(out, "deactivated 20") {
		t.Fatalf("list --all:\n%s", out)
	}
	cli(t, "witness", "reactivate", "bob@example.org")

	// An open ceremony lists him and Temporal is down: the change stands, and
	// the command says who was not told and what to run.
	spec := contract.Spec{ID: "web/rel", Kind: "release", Artifact: contract.Artifact{Name: "a", Digest: "sha256:" + strings.Repeat("ab", 32)},
		Initiator: "ivy@example.org", Witnesses: []contract.WitnessRef{{ID: "bob@example.org", Role: "legal"}}, Quorum: contract.Quorum{Threshold: 1},
		Deadline: time.Now().Add(time.Hour)}
	if err := s.RecordOpened(ctx, store.Opened{Spec: spec, WorkflowID: "ceremony/web/rel", OpenedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	out, stderr, err = runCLI(t, "", "witness", "deactivate", "bob@example.org", "--reason", "left again")
	if err != nil || !strings.Contains(out, "deactivated bob@example.org") || !strings.Contains(stderr, "the change stands") ||
		!strings.Contains(stderr, "guildhall witness tell bob@example.org") {
		t.Fatalf("deactivate with Temporal down: %q %q %v", out, stderr, err)
	}
	if w, _ := s.GetWitness(ctx, "bob@example.org"); w.Active() {
		t.Fatal("the deactivation did not stand")
	}
	// Every change was made by the CLI's user, on the chain.
	evs, err := s.ListCustody(ctx, store.CustodyFilter{Types: []string{custody.TypeWitnessAdded, custody.TypeWitnessChanged, custody.TypeWitnessDeactivated}, Limit: 50})
	if err != nil || len(evs) < 5 {
		t.Fatalf("custody: %d events, %v", len(evs), err)
	}
	for _, e := range evs {
		if !strings.Contains(e.Body, `"by":"`+cliActor()+`"`) {
			t.Errorf("%s not by %s: %s", e.Type, cliActor(), e.Body)
		}
	}

	// The key commands still work next to the directory's: --create adds the
	// person through the directory, then the key file proves possession.
	keyFile := filepath.Join(dir, "dee.key")
	cli(t, "keygen", "--witness", "dee@example.org", "--out", keyFile)
	if out := cli(t, "witness", "add-key", "dee@example.org", keyFile, "--create"); !strings.Contains(out, "dee@example.org") {
		t.Fatalf("add-key --create: %q", out)
	}
	w, err := s.GetWitness(ctx, "dee@example.org")
	if err != nil || w.Email != "dee@example.org" || len(w.Credentials) != 1 {
		t.Fatalf("created: %+v %v", w, err)
	}
	cli(t, "witness", "remove-key", "dee@example.org", w.Credentials[0].KeyID)
	// The chain names who ran the commands, not the key's holder.
	keyEvents, err := s.ListCustody(ctx, store.CustodyFilter{Types: []string{custody.TypeKeyRegistered, custody.TypeKeyRemoved}, Limit: 10})
	if err != nil || len(keyEvents) != 2 {
		t.Fatalf("key events: %d %v", len(keyEvents), err)
	}
	for _, e := range keyEvents {
		if e.Actor != cliActor() {
			t.Errorf("%s by %q, want %q", e.Type, e.Actor, cliActor())
		}
	}
}

// TestTemplateCLI applies templates from files, refuses bad ones by field, and
// prints them back as YAML that applies unchanged.
func TestTemplateCLI(t *testing.T) {
	dir := t.TempDir()
	useEnv(t, "DATABASE_URL", "sqlite:"+filepath.Join(dir, "ops.db"), "LOG_FORMAT", "text")
	cli(t, "migrate", "up")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if out := cli(t, "template", "get"); out != "" {
		t.Fatalf("no templates: %q", out)
	}
	bad := write("bad.yaml", "name: Release\nkind: launch\nwitnesses: {}\nquorum:\n  threshold: 0\n  minAssurance: strong\n")
	msg := refused(t, "template", "apply", "-f", bad)
	for _, f := range []string{"name: ", "kind: ", "witnesses: ", "quorum.threshold: ", "quorum.minAssurance: ", "openedBy: "} {
		if !strings.Contains(msg, "\n  "+f) {
			t.Errorf("bad template: no line for %q in\n%s", f, msg)
		}
	}
	if msg := refused(t, "template", "apply", "-f", write("typo.yaml", "name: release\nqourum: {}\n")); !strings.Contains(msg, "qourum") {
		t.Fatalf("unknown field: %s", msg)
	}
	release := "name: release\nkind: release\nwitnesses:\n  roles: [security, release]\nquorum:\n  threshold: 2\n  roles: {security: 1}\n  veto: [security]\n  minAssurance: key\ndeadline: 3d\nopenedBy: [release]\n"
	if out := cli(t, "template", "apply", "-f", write("release.yaml", release)); out != "applied release v1\n" {
		t.Fatalf("apply: %q", out)
	}
	if out := cli(t, "template", "apply", "-f", write("release.json", `{"name":"release","kind":"release","witnesses":{"roles":["security","release"]},"quorum":{"threshold":2,"roles":{"security":1},"veto":["security"],"minAssurance":"key"},"deadline":"3d","openedBy":["release"]}`)); out != "release v1 unchanged\n" {
		t.Fatalf("the same as JSON: %q", out)
	}
	if out := cli(t, "template", "apply", "-f", write("release2.yaml", strings.Replace(release, "threshold: 2", "threshold: 3", 1))); out != "applied release v2\n" {
		t.Fatalf("apply v2: %q", out)
	}
	got := cli(t, "template", "get", "release")
	if !strings.HasPrefix(got, "# release v2, saved ") || !strings.Contains(got, "\nname: release\n") || !strings.Contains(got, "threshold: 3") {
		t.Fatalf("get:\n%s", got)
	}
	if out := cli(t, "template", "apply", "-f", write("back.yaml", got)); out != "release v2 unchanged\n" {
		t.Fatalf("get | apply: %q", out)
	}
	if out := cli(t, "template", "get", "release", "--version", "1"); !strings.Contains(out, "threshold: 2") {
		t.Fatalf("get --version 1:\n%s", out)
	}
	if out := cli(t, "template", "get"); !strings.Contains(out, "NAME") || !strings.Contains(out, "release  v2") && !strings.Contains(out, "release    v2") {
		t.Fatalf("list:\n%s", out)
	}
	if msg := refused(t, "template", "get", "nope"); !strings.Contains(msg, "not found") {
		t.Fatalf("get nope: %s", msg)
	}
}

// TestDeactivateTellsTheCeremony: against a real Temporal dev server and
// worker, `witness deactivate` flags the open ceremony that waits for the
// person, and `witness reactivate` lowers the flag.
func TestDeactivateTellsTheCeremony(t *testing.T) {
	ctx := context.Background()
	dev, err := testenv.StartDevServer(ctx, testenv.DevServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Stop()
	dir := t.TempDir()
	useEnv(t, "DATABASE_URL", "sqlite:"+filepath.Join(dir, "ops.db"), "LOG_FORMAT", "text", "TEMPORAL_ADDRESS", dev.Address)
	cli(t, "migrate", "up")
	s, err := store.Open(ctx, store.Options{URL: os.Getenv("DATABASE_URL")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tc, err := dev.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	w := worker.New(tc, &activities.Activities{Store: s}, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	cli(t, "witness", "add", "bob@example.org", "--role", "release")
	cli(t, "witness", "add", "carol@example.org", "--role", "release")
	cc := ceremonyclient.New(tc)
	spec := contract.Spec{ID: "cli/deactivate", Kind: "release", Title: "Release a", Artifact: contract.Artifact{Name: "a", Digest: "sha256:" + strings.Repeat("ab", 32)},
		Initiator: "ivy@example.org", Witnesses: []contract.WitnessRef{{ID: "bob@example.org", Role: "release"}, {ID: "carol@example.org", Role: "release"}},
		Quorum: contract.Quorum{Threshold: 1}, Deadline: time.Now().Add(time.Hour).UTC()}
	if _, err := cc.Open(ctx, spec); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "the ceremony in the Ops DB", func() bool {
		_, err := s.GetCeremony(ctx, spec.ID)
		return err == nil
	})
	out := cli(t, "witness", "deactivate", "bob@example.org", "--reason", "on leave")
	if !strings.Contains(out, "told 1 open ceremonies that list them: cli/deactivate") {
		t.Fatalf("deactivate: %q", out)
	}
	state := func() contract.State {
		st, err := cc.Status(ctx, spec.ID)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	testenv.Eventually(t, 20*time.Second, "the ceremony flags bob", func() bool {
		st := state()
		return slices.Equal(st.Deactivated, []string{"bob@example.org"}) && st.Attention == contract.AttentionWitnessDeactivated
	})
	cli(t, "witness", "reactivate", "bob@example.org")
	testenv.Eventually(t, 20*time.Second, "the flag lowered", func() bool {
		st := state()
		return len(st.Deactivated) == 0 && st.Attention == ""
	})
}
