// Package devserver runs `temporal server start-dev` as a child process: for
// `guildhall dev` (make run) on the usual ports and for integration tests on free
// loopback ports. The child dies with its parent and is stopped with its process
// group, so Ctrl-C leaves nothing behind.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/procgroup"
	"github.com/guildhouse/guildhall/internal/toolcache"
)

// TemporalVersion is the temporal CLI version the project pins.
const TemporalVersion = "1.5.1"

// TemporalBinary finds the temporal CLI: $TEMPORAL_BIN, the tool cache that
// `make tools` fills (toolcache.Root), or PATH.
func TemporalBinary() (string, error) {
	if p := os.Getenv("TEMPORAL_BIN"); p != "" {
		return p, nil
	}
	if cache, err := toolcache.Root(); err == nil {
		p := filepath.Join(cache, "temporal-"+TemporalVersion, "temporal")
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
	args       []string
	bin        string
	log        *os.File
	proc       procgroup.Process
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
// A port picked free can be taken by another process before the server binds it
// (or one of the ports the CLI derives from it), and the server then exits at
// start-up: with picked ports it tries again, on new ones, up to three times.
func StartDevServer(ctx context.Context, o DevServerOptions) (*DevServer, error) {
	for attempt := 1; ; attempt++ {
		s, err := startDevServer(ctx, o)
		if err == nil || !errors.Is(err, errExited) || o.Port != 0 || attempt == 3 {
			return s, err
		}
	}
}

func startDevServer(ctx context.Context, o DevServerOptions) (*DevServer, error) {
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
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	// Its own process group, so Stop also ends the UI server the CLI forks.
	done, err := s.proc.Start(cmd, nil)
	if err != nil {
		return fmt.Errorf("start temporal dev server: %w", err)
	}
	if err := WaitHealthy(ctx, s.Address, "", done, time.Minute); err != nil {
		s.Stop()
		return fmt.Errorf("temporal dev server: %w; see %s", err, s.log.Name())
	}
	return nil
}

// errExited is WaitHealthy's error when the server exits before it answers.
var errExited = errors.New("exited during start-up")

// WaitHealthy waits until the Temporal frontend at hostPort answers its health
// check, the process whose exit closes done has exited, or timeout passes.
func WaitHealthy(ctx context.Context, hostPort, namespace string, done <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: hostPort, Namespace: namespace, Logger: Quiet})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			c.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-done:
			return errExited
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s (last error: %v)", timeout, err)
		}
	}
}

// Stop ends the server (SIGTERM, SIGKILL after 10 s) and waits for it to exit.
func (s *DevServer) Stop() { s.proc.Stop(10 * time.Second) }

// Kill ends the server with SIGKILL (for chaos tests).
func (s *DevServer) Kill() { s.proc.Kill() }

// HostPort is the frontend's address.
func (s *DevServer) HostPort() string { return s.Address }

// Kind names the server in test output.
func (s *DevServer) Kind() string { return "dev" }

// MetricsURL is the server's Prometheus endpoint (DevServerOptions.Metrics),
// empty when it serves none.
func (s *DevServer) MetricsURL() string { return s.metricsURL }

// PID is the server process's id (0 when stopped).
func (s *DevServer) PID() int { return s.proc.PID() }

// Close stops the server (the dev server keeps nothing outside its DBFile).
func (s *DevServer) Close() { s.Stop() }

// Restart stops and starts the server on the same ports and database file.
func (s *DevServer) Restart(ctx context.Context) error {
	s.Stop()
	return s.start(ctx)
}

// Client dials the server.
func (s *DevServer) Client(ctx context.Context) (client.Client, error) {
	return client.DialContext(ctx, client.Options{HostPort: s.Address, Logger: Quiet})
}

// LogTail returns the last bytes of the server log, for failure messages.
func (s *DevServer) LogTail() string { return procgroup.LogTail(s.log.Name()) }

// Quiet drops the SDK's client logs in tests; failures surface as errors.
var Quiet = tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
