package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/internal/config"
)

func TestHealthcheckURLs(t *testing.T) {
	probe := func(kv map[string]string) (config.Probe, error) {
		cfg, err := config.Inspect("healthcheck", func(k string) (string, bool) { v, ok := kv[k]; return v, ok })
		return *cfg.(*config.Probe), err
	}
	for _, tc := range []struct {
		name, url, target string
		env               map[string]string
		want              []string
		wantErr           bool
	}{
		{name: "defaults auto", target: "auto", want: []string{"http://127.0.0.1:4000/health", "http://127.0.0.1:9090/healthz"}},
		{name: "web", target: "web", env: map[string]string{"GUILDHALL_ADDR": "0.0.0.0:8080"}, want: []string{"http://127.0.0.1:8080/health"}},
		{name: "metrics ipv6 any", target: "metrics", env: map[string]string{"METRICS_ADDR": "[::]:9191"}, want: []string{"http://127.0.0.1:9191/healthz"}},
		{name: "specific host kept", target: "web", env: map[string]string{"GUILDHALL_ADDR": "10.0.0.5:4000"}, want: []string{"http://10.0.0.5:4000/health"}},
		{name: "url wins", url: "http://127.0.0.1:1/x", target: "web", want: []string{"http://127.0.0.1:1/x"}},
		{name: "bad url", url: "127.0.0.1:1/x", wantErr: true},
		{name: "bad target", target: "db", wantErr: true},
		{name: "bad addr", target: "web", env: map[string]string{"GUILDHALL_ADDR": "4000"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := probe(tc.env)
			if err == nil || tc.url != "" {
				var got []string
				got, err = healthcheckURLs(tc.url, tc.target, cfg)
				if strings.Join(got, " ") != strings.Join(tc.want, " ") {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}

// closedURL returns a loopback URL where nothing listens.
func closedURL(t *testing.T, path string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + path
}

func TestRunHealthcheck(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" && r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("ok\n"))
	}))
	defer ok.Close()
	degraded := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("degraded: database: connection refused\n"))
	}))
	defer degraded.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	closed := closedURL(t, "/health")
	client := &http.Client{Timeout: 300 * time.Millisecond}

	for _, tc := range []struct {
		name    string
		urls    []string
		healthy bool
		msg     string
	}{
		{"200", []string{ok.URL + "/health"}, true, "ok"},
		{"503 degraded", []string{degraded.URL + "/health"}, false, "degraded: database"},
		{"404", []string{ok.URL + "/nope"}, false, "404"},
		{"refused", []string{closed}, false, "nothing listens"},
		{"auto falls back to metrics when web is not listening", []string{closed, ok.URL + "/healthz"}, true, "/healthz"},
		{"auto does not hide a degraded web", []string{degraded.URL + "/health", ok.URL + "/healthz"}, false, "503"},
		{"timeout", []string{slow.URL + "/health"}, false, "unhealthy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := runHealthcheck(context.Background(), client, tc.urls)
			if tc.healthy != (err == nil) {
				t.Fatalf("healthy = %v (err %v), want %v", err == nil, err, tc.healthy)
			}
			if err != nil {
				msg = err.Error()
			}
			if !strings.Contains(msg, tc.msg) {
				t.Fatalf("message %q does not contain %q", msg, tc.msg)
			}
		})
	}
}

// The cobra command exits non-zero (returns an error) when unhealthy and prints the
// answer when healthy.
func TestHealthcheckCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()

	cmd := newHealthcheckCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--url", srv.URL + "/health"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("healthy server: %v", err)
	}
	if !strings.Contains(out.String(), "healthy") {
		t.Fatalf("output %q", out.String())
	}

	cmd = newHealthcheckCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--url", closedURL(t, "/health"), "--timeout", "1s"})
	if err := cmd.ExecuteContext(context.Background()); err == nil {
		t.Fatal("closed port: want an error (exit 1)")
	}
}
