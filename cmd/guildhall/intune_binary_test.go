package main_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/intune"
	"github.com/guildhouse/guildhall/intune/intunetest"
)

// TestGraphBridgeThroughTheBinary runs the built guildhall worker with GRAPH_*
// pointed at the in-test Graph (its certificate trusted through SSL_CERT_FILE):
// the worker says the bridge is on and keeps the drift schedule, a sealed
// release reaches the fake's assignments, `guildhall intune status` says so,
// and `guildhall intune apply` undoes a change made behind its back.
func TestGraphBridgeThroughTheBinary(t *testing.T) {
	ctx := context.Background()
	dev, err := testenv.StartDevServer(ctx, testenv.DevServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Stop()
	db, err := testenv.CreateDatabase(ctx, "guildhall_intune_cli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Drop(context.Background()) })
	fake := intunetest.New(t)
	app := uuid.NewString()
	fake.AddApp(intunetest.App{ID: app, DisplayName: "VPN client"})
	caFile := filepath.Join(t.TempDir(), "graph-ca.pem")
	if err := os.WriteFile(caFile, fake.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	metrics, _ := testenv.FreePort()
	common := []string{"DATABASE_URL=" + db.URL, "TEMPORAL_ADDRESS=" + dev.Address, "LOG_FORMAT=json"}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), common...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("migrate", "up"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	worker := start(t, bin, append(common, fmt.Sprintf("METRICS_ADDR=127.0.0.1:%d", metrics), "SSL_CERT_FILE="+caFile,
		"GRAPH_TENANT_ID="+fake.TenantID, "GRAPH_CLIENT_ID="+fake.ClientID, "GRAPH_CLIENT_SECRET="+fake.ClientSecret,
		"GRAPH_AUTHORITY_URL="+fake.URL, "GRAPH_BASE_URL="+fake.URL+"/v1.0"), "worker")
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", metrics))
	testenv.Eventually(t, 30*time.Second, "the worker to keep the drift schedule", func() bool {
		return strings.Contains(worker.out.String(), `"Graph bridge: drift check scheduled"`)
	})
	if !strings.Contains(worker.out.String(), `"Graph bridge on"`) || strings.Contains(worker.out.String(), fake.ClientSecret) {
		t.Fatalf("worker log (bridge on, no secret):\n%s", worker.out)
	}

	c, err := dev.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cc := ceremonyclient.New(c)
	digest := "sha256:" + strings.Repeat("7b", 32)
	group := uuid.NewString()
	spec := contract.Spec{ID: "cli/vpn-2-4", Kind: contract.KindRelease, Title: "VPN client 2.4",
		Artifact: contract.Artifact{Name: "vpn", Digest: digest}, Initiator: "ivy",
		Witnesses: []contract.WitnessRef{{ID: "alice"}}, Quorum: contract.Quorum{Threshold: 1}, Deadline: time.Now().Add(time.Hour),
		Intune: &contract.IntuneTarget{AppID: app, OnRevoke: contract.IntuneRevokeRemove, Groups: []contract.IntuneGroup{{GroupID: group, Intent: contract.IntuneRequired}}}}
	if _, err := cc.Open(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Sign(ctx, spec.ID, contract.SignRequest{IdempotencyKey: "a", WitnessID: "alice", Decision: contract.Approve}); err != nil {
		t.Fatal(err)
	}
	if err := cc.Signal(ctx, spec.ID, contract.SignalSubstrateDecision, contract.SubstrateDecision{IdempotencyKey: "s", Phase: "Sealed"}); err != nil {
		t.Fatal(err)
	}
	intent := func() string {
		for _, a := range fake.Assignments(app) {
			if a.GroupID == group && a.TargetType == intune.TypeGroupTarget {
				return a.Intent
			}
		}
		return ""
	}
	testenv.Eventually(t, time.Minute, "the sealed release in Intune", func() bool { return intent() == "required" })

	out, err := run("intune", "status", digest)
	if err != nil || !strings.Contains(out, "cli/vpn-2-4") || !regexp.MustCompile(`state\s+applied`).MatchString(out) {
		t.Fatalf("intune status: %v\n%s", err, out)
	}
	fake.ChangeIntent(app, group, "available")
	out, err = run("intune", "apply", digest)
	if err != nil || !strings.Contains(out, "done: 1 change(s)") || intent() != "required" {
		t.Fatalf("intune apply: %v (Intune has %q)\n%s", err, intent(), out)
	}
	if out, err := run("intune", "status", "sha256:"+strings.Repeat("00", 32)); err == nil || !strings.Contains(out, "no Intune deployment") {
		t.Fatalf("status of an artifact without deployments: %v\n%s", err, out)
	}
}
