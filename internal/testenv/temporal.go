package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/internal/devserver"
	"github.com/guildhouse/guildhall/internal/temporalserver"
)

// The Temporal servers the integration suites run on.
const (
	// Dev is `temporal server start-dev` (the temporal CLI): one process,
	// SQLite, search attributes registered by flags. `make run` uses it.
	Dev = "dev"
	// Postgres is the server built from go.temporal.io/server with PostgreSQL
	// persistence and SQL visibility on fresh databases, set up as production
	// is: namespace and search attributes registered through the API (the
	// latter by the code `guildhall temporal setup` runs).
	Postgres = "postgres"
)

// KindEnv selects the server: GUILDHALL_TEST_TEMPORAL=dev (the default) or
// postgres. `make test` runs the suites that matter once with each.
const KindEnv = "GUILDHALL_TEST_TEMPORAL"

// Kind returns the server $GUILDHALL_TEST_TEMPORAL selects. An unknown value
// panics: a typo must not quietly test the dev server twice.
func Kind() string {
	switch k := os.Getenv(KindEnv); k {
	case "", Dev:
		return Dev
	case Postgres:
		return Postgres
	default:
		panic(fmt.Sprintf("%s=%q: want %q or %q", KindEnv, k, Dev, Postgres))
	}
}

// Temporal is a running Temporal server, either kind.
type Temporal interface {
	Kind() string
	HostPort() string
	Client(ctx context.Context) (client.Client, error)
	PID() int
	// MetricsURL is its Prometheus endpoint (TemporalOptions.Metrics).
	MetricsURL() string
	// Stop ends it with SIGTERM; Kill with SIGKILL. Restart starts it again on
	// the same ports and state (Persistent for the dev server).
	Stop()
	Kill()
	Restart(ctx context.Context) error
	// Close stops it and removes its state.
	Close()
	LogTail() string
}

// TemporalOptions tune StartTemporal.
type TemporalOptions struct {
	// DynamicConfig: KEY → VALUE in JSON, for either server.
	DynamicConfig map[string]string
	// Persistent keeps the dev server's state in a file, so Restart keeps the
	// workflows (the PostgreSQL-backed server always keeps them).
	Persistent bool
	// Dir holds the state file and the log (default: a temporary folder).
	Dir string
	// PostgresURL is where the PostgreSQL-backed server's databases are made
	// (default AdminURL, the tests' Postgres).
	PostgresURL string
	// NoSearchAttributes leaves the contract's search attributes unregistered
	// on the PostgreSQL-backed server (start-up check tests).
	NoSearchAttributes bool
	// Metrics serves the server's Prometheus metrics (MetricsURL).
	Metrics bool
	// MaxConns sizes the PostgreSQL-backed server's connection pools
	// (temporalserver.Options.MaxConns).
	MaxConns int
}

// StartTemporal starts the server Kind selects.
func StartTemporal(ctx context.Context, o TemporalOptions) (Temporal, error) {
	return StartTemporalKind(ctx, Kind(), o)
}

// StartTemporalKind starts a server of the given kind and waits until its
// namespace "default" serves the workflow contract.
func StartTemporalKind(ctx context.Context, kind string, o TemporalOptions) (Temporal, error) {
	if o.Dir != "" {
		return startTemporal(ctx, kind, o)
	}
	d, err := os.MkdirTemp("", "guildhall-temporal-state-*")
	if err != nil {
		return nil, err
	}
	o.Dir = d
	t, err := startTemporal(ctx, kind, o)
	if err != nil {
		os.RemoveAll(d)
		return nil, err
	}
	return ownedDir{t, d}, nil
}

func startTemporal(ctx context.Context, kind string, o TemporalOptions) (Temporal, error) {
	log := filepath.Join(o.Dir, "temporal.log")
	switch kind {
	case Dev:
		do := devserver.DevServerOptions{DynamicConfig: o.DynamicConfig, LogPath: log, Metrics: o.Metrics}
		if o.Persistent {
			do.DBFile = filepath.Join(o.Dir, "temporal.db")
		}
		return devserver.StartDevServer(ctx, do)
	case Postgres:
		if o.PostgresURL == "" {
			o.PostgresURL = AdminURL()
		}
		s, err := temporalserver.Start(ctx, temporalserver.Options{AdminURL: o.PostgresURL, DynamicConfig: o.DynamicConfig, LogPath: log, MaxConns: o.MaxConns})
		if err != nil {
			return nil, err
		}
		if !o.NoSearchAttributes {
			if err := setUp(ctx, s); err != nil {
				s.Close()
				return nil, err
			}
		}
		return s, nil
	}
	return nil, fmt.Errorf("unknown Temporal server kind %q", kind)
}

// setUp registers the contract's search attributes as `guildhall temporal
// setup` does.
func setUp(ctx context.Context, s *temporalserver.Server) error {
	c, err := s.Client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := ceremonyclient.New(c).EnsureSearchAttributes(ctx, s.Namespace); err != nil {
		return fmt.Errorf("set up namespace %s: %w", s.Namespace, err)
	}
	return nil
}

// ownedDir removes the folder StartTemporalKind made when the server closes.
type ownedDir struct {
	Temporal
	dir string
}

func (o ownedDir) Close() {
	o.Temporal.Close()
	os.RemoveAll(o.dir)
}

var (
	_ Temporal = (*devserver.DevServer)(nil)
	_ Temporal = (*temporalserver.Server)(nil)
)
