package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guildhouse/guildhall/internal/config"
)

// GUILDHALL_CLUSTER_MODE is off unless set to a true value, and on it needs a
// namespace and a Kubernetes config; an unreachable cluster is logged, not fatal.
func TestClusterMode(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, mode, ns, kubeconfig string
		on                         bool
		wantErr                    string
	}{
		{name: "unset"},
		{name: "false", mode: "false", ns: "guildhall"},
		{name: "not a bool", mode: "yes", wantErr: "want true or false"},
		{name: "no namespace", mode: "true", kubeconfig: kubeconfig, wantErr: "needs GUILDHALL_CEREMONY_NAMESPACE"},
		{name: "bad namespace", mode: "true", ns: "Guild_hall", kubeconfig: kubeconfig, wantErr: "needs GUILDHALL_CEREMONY_NAMESPACE"},
		{name: "no kubeconfig", mode: "true", ns: "guildhall", kubeconfig: filepath.Join(t.TempDir(), "missing"), wantErr: "automountServiceAccountToken"},
		{name: "on", mode: "1", ns: "guildhall", kubeconfig: kubeconfig, on: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"GUILDHALL_CLUSTER_MODE": tc.mode, "GUILDHALL_CEREMONY_NAMESPACE": tc.ns,
				"KUBECONFIG": tc.kubeconfig, "SESSION_SECRET": strings.Repeat("s", 32)}
			var logs bytes.Buffer
			var m *clusterMode
			cfg, err := config.Inspect("web", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			if err == nil {
				m, err = newClusterMode(context.Background(), slog.New(slog.NewTextHandler(&logs, nil)), *cfg.(*config.Web), nil)
			}
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case !tc.on:
				if m != nil || m.creator() != nil {
					t.Fatalf("cluster mode on: %+v", m)
				}
			default:
				if m == nil || m.namespace != tc.ns || m.creator() == nil || m.crd.InUse == nil {
					t.Fatalf("cluster mode %+v", m)
				}
				// Nothing listens on 127.0.0.1:1: the start-up check says so in the log.
				if !strings.Contains(logs.String(), "the composer cannot create Ceremonies") {
					t.Errorf("log lacks the failed check:\n%s", logs.String())
				}
			}
		})
	}
}
