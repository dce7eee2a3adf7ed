// Package pgtemp runs a throwaway PostgreSQL server: initdb into a temporary
// folder, pg_ctl on a free loopback port, trust auth for the postgres user. The
// chaos tests stop and start it to simulate a database outage, and
// `guildhall bench --self-contained` uses it so a benchmark never shares (or
// disturbs) the machine's Postgres.
//
// initdb refuses to run as root; under root the server runs as the `postgres`
// system user (runuser) in a folder owned by it. The binaries come from
// $PG_BINDIR, /usr/lib/postgresql/<newest>/bin, or PATH.
package pgtemp

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/guildhouse/guildhall/internal/devserver"
)

// Options tune Start.
type Options struct {
	// Settings are extra `-c name=value` server settings, e.g. "fsync=off".
	Settings []string
}

// Server is a running throwaway Postgres.
type Server struct {
	Port    int
	Dir     string // temporary root: data/, sock/, log
	bindir  string
	runAs   string // "" or the system user to run as
	opts    Options
	mu      sync.Mutex
	running bool
}

// BinDir finds the PostgreSQL server binaries.
func BinDir() (string, error) {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) < pgMajor(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql, or set PG_BINDIR")
}

func pgMajor(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Start creates a cluster in a new temporary folder and starts it.
func Start(ctx context.Context, o Options) (*Server, error) {
	bindir, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "guildhall-pg-*")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, bindir: bindir, opts: o}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, errors.New("running as root and there is no `postgres` system user to run initdb as")
		}
		s.runAs = "postgres"
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if err := s.run(ctx, "mkdir", "-p", s.path("sock")); err != nil {
		s.Destroy()
		return nil, err
	}
	if err := s.run(ctx, filepath.Join(bindir, "initdb"), "-D", s.path("data"), "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		s.Destroy()
		return nil, fmt.Errorf("initdb: %w", err)
	}
	if s.Port, err = devserver.FreePort(); err != nil {
		s.Destroy()
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		s.Destroy()
		return nil, err
	}
	return s, nil
}

func (s *Server) path(p string) string { return filepath.Join(s.Dir, p) }

// run runs a command as the server's user, returning its output on failure.
func (s *Server) run(ctx context.Context, name string, args ...string) error {
	if s.runAs != "" {
		args = append([]string{"-u", s.runAs, "--", name}, args...)
		name = "runuser"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Start starts the (stopped) server on its port and waits until it accepts
// connections.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return nil
	}
	pgopts := []string{"-p", strconv.Itoa(s.Port), "-h", "127.0.0.1", "-k", s.path("sock"),
		"-c", "max_connections=200", "-c", "shared_buffers=64MB"}
	for _, kv := range s.opts.Settings {
		pgopts = append(pgopts, "-c", kv)
	}
	if err := s.run(ctx, filepath.Join(s.bindir, "pg_ctl"), "-D", s.path("data"), "-l", s.path("postgres.log"),
		"-o", strings.Join(pgopts, " "), "-w", "-t", "60", "start"); err != nil {
		return fmt.Errorf("start postgres: %w (log: %s)", err, s.LogTail())
	}
	s.running = true
	return s.waitReady(ctx)
}

func (s *Server) waitReady(ctx context.Context) error {
	db, err := sql.Open("pgx", s.AdminURL())
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = db.PingContext(pctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("postgres on port %d not ready: %w", s.Port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the server (fast shutdown: open sessions are ended), keeping its data.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil
	}
	if err := s.run(ctx, filepath.Join(s.bindir, "pg_ctl"), "-D", s.path("data"), "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		return fmt.Errorf("stop postgres: %w", err)
	}
	s.running = false
	return nil
}

// Destroy stops the server at once and removes its folder.
func (s *Server) Destroy() {
	s.mu.Lock()
	running := s.running
	s.running = false
	s.mu.Unlock()
	if running {
		_ = s.run(context.Background(), filepath.Join(s.bindir, "pg_ctl"), "-D", s.path("data"), "-m", "immediate", "-w", "-t", "30", "stop")
	}
	_ = os.RemoveAll(s.Dir)
}

// AdminURL is the URL of the postgres database as the postgres superuser.
func (s *Server) AdminURL() string { return s.URL("postgres") }

// URL is the URL of a database on this server.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// CreateDatabase creates a database and returns its URL.
func (s *Server) CreateDatabase(ctx context.Context, name string) (string, error) {
	db, err := sql.Open("pgx", s.AdminURL())
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.URL(name), nil
}

// LogTail returns the end of the server log.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(s.path("postgres.log"))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return strings.TrimSpace(string(b))
}
