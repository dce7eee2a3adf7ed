// Package temporalserver runs the Temporal server built from go.temporal.io/server
// (tools/temporal-server) the way production runs it: PostgreSQL persistence and
// PostgreSQL SQL visibility, each in a fresh database created and migrated with
// the server module's own SQL tool and schema files, the four services in one
// process on free loopback ports, and the namespace registered through the API.
// Tests and the benchmark run it next to the dev server (internal/devserver).
//
// The binary is built by tools/temporal-server/build.sh; a missing one fails
// with that command, it is never skipped.
package temporalserver

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/guildhouse/guildhall/internal/devserver"
	"github.com/guildhouse/guildhall/internal/procgroup"
	"github.com/guildhouse/guildhall/internal/toolcache"
)

// BuildCommand builds the binary (from the repository root).
const BuildCommand = "tools/temporal-server/build.sh   (or: make temporal-server)"

// Plugin is the server's SQL plugin for PostgreSQL 12 and later, for both stores.
const Plugin = "postgres12"

// The server module's schema directories (embedded in its SQL tool) for the two
// databases; docker-compose.yml and the Helm values apply the same ones.
const (
	PersistenceSchema = "postgresql/v12/temporal"
	VisibilitySchema  = "postgresql/v12/visibility"
)

// SchemaSteps are the SQL tool's commands, in order, that create a database
// and bring it to the newest version of schema, as the Helm chart's schema
// job runs them.
func SchemaSteps(schema string) [][]string {
	return [][]string{
		{"create-database"},
		{"setup-schema", "-v", "0.0"},
		{"update-schema", "--schema-name", schema},
	}
}

// Binary finds temporal-server: $GUILDHALL_TEST_TEMPORAL_SERVER, else the cache
// directory build.sh fills.
func Binary() (string, error) {
	if p := os.Getenv("GUILDHALL_TEST_TEMPORAL_SERVER"); p != "" {
		return p, toolcache.Executable(p, "$GUILDHALL_TEST_TEMPORAL_SERVER", BuildCommand)
	}
	dir, err := toolcache.Dir("temporal-server")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "temporal-server")
	return p, toolcache.Executable(p, "the temporal-server cache", BuildCommand)
}

// Version is the server version the binary reports (e.g. 1.32.0).
func Version() (string, error) {
	bin, err := Binary()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(bin, "version").Output()
	return strings.TrimSpace(string(out)), err
}

// Options configure Start.
type Options struct {
	// AdminURL is a Postgres URL whose user may create databases; the server's
	// two databases are created next to its database and dropped by Close.
	AdminURL string
	// Namespace is registered at start (default "default").
	Namespace string
	// DynamicConfig sets dynamic config values: KEY → VALUE in JSON, as for
	// the dev server (e.g. limit.historyCount.suggestContinueAsNew → 40).
	DynamicConfig map[string]string
	// LogPath receives the server's output; empty means a file in its folder.
	LogPath string
	// MaxConns caps each store's connection pool, per service (four services,
	// two stores: up to 8 × MaxConns connections). Default 3, for a shared
	// test Postgres with max_connections=100; production uses ~20.
	MaxConns int
}

// Server is a running PostgreSQL-backed Temporal server.
type Server struct {
	Address   string // frontend host:port
	Namespace string
	Databases []string // persistence, visibility

	dir, bin, admin, logPath string
	metricsURL               string
	log                      *os.File
	proc                     procgroup.Process
}

// Start creates and migrates the databases, writes the configuration, starts
// the server and registers the namespace.
func Start(ctx context.Context, o Options) (_ *Server, err error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.MaxConns == 0 {
		o.MaxConns = 3
	}
	dir, err := os.MkdirTemp("", "guildhall-temporal-*")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, bin: bin, admin: o.AdminURL, Namespace: o.Namespace, logPath: o.LogPath}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.logPath == "" {
		s.logPath = filepath.Join(dir, "temporal.log")
	}
	if s.log, err = os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return nil, err
	}
	suffix := make([]byte, 5)
	_, _ = rand.Read(suffix)
	for i, schema := range []string{PersistenceSchema, VisibilitySchema} {
		name := []string{"temporal_", "temporal_vis_"}[i] + hex.EncodeToString(suffix)
		s.Databases = append(s.Databases, name) // before creating it, so Close drops a half-made one
		if err := s.createDatabase(ctx, name, schema); err != nil {
			return nil, err
		}
	}
	cfg, err := s.writeConfig(o)
	if err != nil {
		return nil, err
	}
	if err := s.start(ctx, cfg); err != nil {
		return nil, err
	}
	if err := s.registerNamespace(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// createDatabase runs SchemaSteps with the server's SQL tool.
func (s *Server) createDatabase(ctx context.Context, name, schema string) error {
	u, err := url.Parse(s.admin)
	if err != nil {
		return fmt.Errorf("admin URL: %w", err)
	}
	conn := []string{"--plugin", Plugin, "--ep", u.Hostname(), "-p", u.Port(), "-u", u.User.Username(), "--db", name}
	if pw, ok := u.User.Password(); ok {
		conn = append(conn, "--pw", pw)
	}
	for _, step := range SchemaSteps(schema) {
		if step[0] == "create-database" {
			step = append(step, "--defaultdb", strings.TrimPrefix(u.Path, "/"))
		}
		args := append(append([]string{"sql-tool"}, conn...), step...)
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		out, err := exec.CommandContext(cctx, s.bin, args...).CombinedOutput()
		cancel()
		if err != nil {
			return fmt.Errorf("temporal-sql-tool %s on %s: %w\n%s", step[0], name, err, out)
		}
		if strings.Contains(string(out), `"level":"error"`) { // the tool logs some failures and exits 0
			return fmt.Errorf("temporal-sql-tool %s on %s failed:\n%s", step[0], name, out)
		}
	}
	return nil
}

func (s *Server) start(ctx context.Context, cfg string) error {
	cmd := exec.Command(s.bin, "start", "--config-file", cfg)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	done, err := s.proc.Start(cmd, nil)
	if err != nil {
		return fmt.Errorf("start temporal-server: %w", err)
	}
	// The four services start one after another.
	if err := devserver.WaitHealthy(ctx, s.Address, s.Namespace, done, 2*time.Minute); err != nil {
		s.Stop()
		return fmt.Errorf("temporal-server: %w; see %s:\n%s", err, s.logPath, s.LogTail())
	}
	return nil
}

// registerNamespace registers the namespace (one day's retention) unless it
// exists, and waits until the frontend serves it: it learns of new namespaces
// on its next cache refresh.
func (s *Server) registerNamespace(ctx context.Context) error {
	c, err := s.Client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: s.Namespace, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register namespace %s: %w", s.Namespace, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := c.WorkflowService().CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: s.Namespace})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s not served after a minute: %w", s.Namespace, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// HostPort is the frontend's address.
func (s *Server) HostPort() string { return s.Address }

// Kind names the server in test output.
func (s *Server) Kind() string { return "postgres" }

// MetricsURL is the Prometheus endpoint of all four services.
func (s *Server) MetricsURL() string { return s.metricsURL }

// PID is the server process's id (0 when stopped).
func (s *Server) PID() int { return s.proc.PID() }

// Client dials the server's namespace.
func (s *Server) Client(ctx context.Context) (client.Client, error) {
	return client.DialContext(ctx, client.Options{HostPort: s.Address, Namespace: s.Namespace, Logger: devserver.Quiet})
}

// Stop ends the server with SIGTERM (SIGKILL after 30 s) and waits for it.
func (s *Server) Stop() { s.proc.Stop(30 * time.Second) }

// Kill ends the server with SIGKILL, as a crashed pod (chaos tests).
func (s *Server) Kill() { s.proc.Kill() }

// Restart stops the server (if it runs) and starts it again on the same ports
// and databases.
func (s *Server) Restart(ctx context.Context) error {
	s.Stop()
	return s.start(ctx, filepath.Join(s.dir, "config.yaml"))
}

// Close stops the server and drops its databases and files.
func (s *Server) Close() {
	s.Stop()
	if s.log != nil {
		s.log.Close()
	}
	if len(s.Databases) > 0 {
		if err := dropDatabases(s.admin, s.Databases); err != nil {
			fmt.Fprintln(os.Stderr, "temporalserver:", err)
		}
	}
	os.RemoveAll(s.dir)
}

func dropDatabases(admin string, names []string) error {
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range names {
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+n+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", n, err)
		}
	}
	return nil
}

// LogTail returns the end of the server's log, for failure messages.
func (s *Server) LogTail() string { return procgroup.LogTail(s.logPath) }
