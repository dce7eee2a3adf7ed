// Package devserver runs `temporal server start-dev` as a child process: for
// `guildhall dev` (make run) on the usual ports and for integration tests on free
// loopback ports. The child dies with its parent and is stopped with its process
// group, so Ctrl-C leaves nothing behind.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/guildhouse/guildhall/contract"
)

// TemporalVersion is the temporal CLI version the project pins.
const TemporalVersion = "1.5.1"

// TemporalBinary finds the temporal CLI: $TEMPORAL_BIN, the per-user cache that
// `make tools` fills, or PATH.
func TemporalBinary() (string, error) {
	if p := os.Getenv("TEMPORAL_BIN"); p != "" {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "guildhall", "temporal-"+TemporalVersion, "temporal")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", errors.New("temporal CLI not found: run `make tools` (installs temporal v" + TemporalVersion + " into ~/.cache/guildhall)")
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// DevServer is a running `temporal server start-dev`.
type DevServer struct {
	Address    string // host:port of the frontend
	UIPort     int
	DBFile     string // empty for in-memory
	metricsURL string
	cmd        *exec.Cmd
	args       []string
	bin        string
	log        *os.File
	done       chan struct{}
	mu         sync.Mutex
}

// DevServerOptions tune StartDevServer.
type DevServerOptions struct {
	// DBFile keeps state across restarts; empty means in memory.
	DBFile string
	// LogPath receives the server's output; empty means a temp file.
	LogPath string
	// Port and UIPort fix the ports; zero picks free ones.
	Port, UIPort int
	// Metrics serves the server's Prometheus metrics on a free port
	// (MetricsURL).
	Metrics bool
	// DynamicConfig sets server dynamic config values (--dynamic-config-value
	// KEY=VALUE, VALUE in JSON), e.g. limit.historyCount.suggestContinueAsNew=40
	// to make the server suggest continue-as-new early in tests.
	DynamicConfig map[string]string
}

// DefaultDynamicConfig are the dynamic config values Guildhall starts the dev
// server with (DevServerOptions.DynamicConfig overrides them).
//
// The CLI turns system.forceSearchAttributesCacheRefreshOnRead on, so that
// attributes created while it runs are usable at once; with it every
// search-attribute lookup reads the cluster metadata and the namespace from its
// database: each workflow task that upserts them, each visibility record and
// each describe. That was the ~5 GetCurrentClusterMetadata and ~2 GetNamespace
// reads per signature of BENCHMARKS.md §1 (0 on the PostgreSQL-backed server,
// whose default is off). Guildhall's attributes are registered by flags before
// the server serves, so the cache is safe to use.
var DefaultDynamicConfig = map[string]string{"system.forceSearchAttributesCacheRefreshOnRead": "false"}

// DevServerArgs returns the `temporal server start-dev` arguments Guildhall uses,
// with the contract's search attributes registered.
func DevServerArgs(port, uiPort int, dbFile string) []string {
	args := []string{"server", "start-dev",
		"--ip", "127.0.0.1",
		"--port", strconv.Itoa(port),
		"--ui-port", strconv.Itoa(uiPort),
		"--namespace", "default",
		"--log-level", "warn",
	}
	if dbFile != "" {
		args = append(args, "--db-filename", dbFile)
	}
	for _, sa := range contract.SearchAttributeTypes {
		args = append(args, "--search-attribute", sa[0]+"="+sa[1])
	}
	return args
}

// StartDevServer starts a dev server on free ports and waits until it answers.
func StartDevServer(ctx context.Context, o DevServerOptions) (*DevServer, error) {
	bin, err := TemporalBinary()
	if err != nil {
		return nil, err
	}
	port, uiPort := o.Port, o.UIPort
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if uiPort == 0 {
		if uiPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	s := &DevServer{Address: fmt.Sprintf("127.0.0.1:%d", port), UIPort: uiPort, DBFile: o.DBFile, bin: bin,
		args: DevServerArgs(port, uiPort, o.DBFile)}
	if o.Metrics {
		mp, err := FreePort()
		if err != nil {
			return nil, err
		}
		s.args = append(s.args, "--metrics-port", strconv.Itoa(mp))
		s.metricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", mp)
	}
	dc := maps.Clone(DefaultDynamicConfig)
	maps.Copy(dc, o.DynamicConfig)
	for _, k := range slices.Sorted(maps.Keys(dc)) {
		s.args = append(s.args, "--dynamic-config-value", k+"="+dc[k])
	}
	if o.LogPath == "" {
		f, err := os.CreateTemp("", "temporal-dev-*.log")
		if err != nil {
			return nil, err
		}
		f.Close()
		o.LogPath = f.Name()
	}
	s.log, err = os.OpenFile(o.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *DevServer) start(ctx context.Context) error {
	s.mu.Lock()
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	// Own process group so Stop also ends the UI server the CLI forks.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("start temporal dev server: %w", err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	done := s.done
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Unlock()
	return s.waitReady(ctx, done)
}

func (s *DevServer) waitReady(ctx context.Context, done chan struct{}) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: s.Address, Logger: quietLogger{}})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			c.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("temporal dev server exited during start-up; see %s", s.log.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("temporal dev server not ready after 60s (last error: %v); see %s", err, s.log.Name())
		}
	}
}

// Stop ends the server and waits for it to exit.
func (s *DevServer) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Kill ends the server with SIGKILL (for chaos tests).
func (s *DevServer) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// HostPort is the frontend's address.
func (s *DevServer) HostPort() string { return s.Address }

// Kind names the server in test output.
func (s *DevServer) Kind() string { return "dev" }

// MetricsURL is the server's Prometheus endpoint (DevServerOptions.Metrics),
// empty when it serves none.
func (s *DevServer) MetricsURL() string { return s.metricsURL }

// PID is the server process's id (0 when stopped).
func (s *DevServer) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Close stops the server (the dev server keeps nothing outside its DBFile).
func (s *DevServer) Close() { s.Stop() }

// Restart stops and starts the server on the same ports and database file.
func (s *DevServer) Restart(ctx context.Context) error {
	s.Stop()
	return s.start(ctx)
}

// Client dials the server.
func (s *DevServer) Client(ctx context.Context) (client.Client, error) {
	return client.DialContext(ctx, client.Options{HostPort: s.Address, Logger: quietLogger{}})
}

// LogTail returns the last bytes of the server log, for failure messages.
func (s *DevServer) LogTail() string {
	b, _ := os.ReadFile(s.log.Name())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return strings.TrimSpace(string(b))
}

// quietLogger drops the SDK's client logs in tests; failures surface as errors.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
