package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/testenv"
)

// TestStartupNeedsSearchAttributes runs the built binary against the
// PostgreSQL-backed server with none of the contract's search attributes
// registered: the worker, the web app and the watcher each exit 1 at start-up
// with a plain message naming every missing attribute and `guildhall temporal
// setup` (no stack trace); `guildhall temporal setup` registers them and says
// so, a second run changes nothing, and then the worker starts.
func TestStartupNeedsSearchAttributes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, err := testenv.StartTemporalKind(ctx, testenv.Postgres, testenv.TemporalOptions{NoSearchAttributes: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	bin := buildBinary(t)
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(unreachableKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	metrics, _ := testenv.FreePort()
	web, _ := testenv.FreePort()
	env := append(os.Environ(), "DATABASE_URL=sqlite:"+filepath.Join(dir, "ops.db"), "TEMPORAL_ADDRESS="+srv.HostPort(),
		"TEMPORAL_NAMESPACE=default", "LOG_FORMAT=json", "METRICS_ADDR=127.0.0.1:"+strconv.Itoa(metrics),
		"GUILDHALL_ADDR=127.0.0.1:"+strconv.Itoa(web), "SESSION_SECRET="+strings.Repeat("s", 40), "KUBECONFIG="+kubeconfig)
	run := func(args ...string) (string, error) {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("migrate", "up"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	for _, role := range []string{"worker", "web", "watcher"} {
		out, err := run(role)
		if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
			t.Fatalf("%s without search attributes: %v, want exit status 1\n%s", role, err, out)
		}
		last := lastLine(out)
		for _, sa := range contract.SearchAttributeTypes {
			if !strings.Contains(last, sa[0]+" ("+sa[1]+") is missing") {
				t.Errorf("%s: the message does not name %s:\n%s", role, sa[0], last)
			}
		}
		if !strings.HasPrefix(last, "guildhall: ") || !strings.Contains(last, "`guildhall temporal setup`") {
			t.Errorf("%s: the last line is not the plain message naming the fix:\n%s", role, last)
		}
		if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") {
			t.Errorf("%s: a stack trace:\n%s", role, out)
		}
		t.Logf("%s: %s", role, last)
	}

	out, err := run("temporal", "setup")
	if err != nil {
		t.Fatalf("temporal setup: %v\n%s", err, out)
	}
	if strings.Count(out, " added\n") != len(contract.SearchAttributeTypes) || !strings.Contains(out, "Added 6, 0 were already registered.") {
		t.Fatalf("temporal setup output:\n%s", out)
	}
	t.Logf("first setup:\n%s", out)
	out, err = run("temporal", "setup")
	if err != nil || strings.Count(out, "already registered\n") != len(contract.SearchAttributeTypes) || !strings.Contains(out, "Nothing to do") {
		t.Fatalf("second temporal setup: %v\n%s", err, out)
	}

	worker := start(t, bin, env[len(os.Environ()):], "worker")
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(worker.out.String(), `"worker started"`) {
		select {
		case err := <-worker.done:
			t.Fatalf("worker exited after setup: %v\n%s", err, worker.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker not started after setup:\n%s", worker.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	worker.sigterm(t, 25*time.Second)
}

// unreachableKubeconfig lets the watcher get past its Kubernetes set-up (which
// connects lazily) to the Temporal check.
const unreachableKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: none
  cluster:
    server: https://127.0.0.1:1
contexts:
- name: none
  context:
    cluster: none
    user: none
current-context: none
users:
- name: none
  user:
    token: none
`

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
