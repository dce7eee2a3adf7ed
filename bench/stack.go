package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/internal/devserver"
	"github.com/guildhouse/guildhall/internal/pgtemp"
	"github.com/guildhouse/guildhall/internal/temporalserver"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/web"
	"github.com/guildhouse/guildhall/worker"
)

// Target is a running Guildhall the bench drives: the web app's base URL, a
// Temporal client (to open ceremonies and to sign the baseline), the Ops DB (to
// register bench witnesses and check the committed rows) and the web app's
// session secret (to mint API tokens for the bench witnesses).
type Target struct {
	BaseURL  string
	Temporal client.Client
	Store    *store.Store
	Secret   []byte
	// Procs names processes whose CPU time the report breaks down (optional).
	Procs []Proc
	// ServerMetrics is the Temporal server's Prometheus endpoint; when set, the
	// report counts the server's requests per signature (optional).
	ServerMetrics string
	// ServerName describes the Temporal server in the report (optional).
	ServerName string
}

// StackOptions configure a self-contained stack.
type StackOptions struct {
	// Dir holds logs and the Temporal server's state; empty means a new temp folder.
	Dir string
	// PoolSize is the Ops DB connection pool of the worker and the web app (POOL_SIZE).
	PoolSize int
	// WorkerOptions are the SDK worker options, used for the Guildhall worker and
	// the baseline worker alike.
	WorkerOptions sdkworker.Options
	// PGSettings are extra Postgres settings (`-c` name=value).
	PGSettings []string
	// DBParams are added to the Ops DB URL's query (e.g.
	// "default_query_exec_mode=simple_protocol"), for every component.
	DBParams string
	// Temporal is the server: testenv.Dev or testenv.Postgres (empty:
	// $GUILDHALL_TEST_TEMPORAL, else the dev server). The PostgreSQL-backed
	// server keeps its two databases in the stack's throwaway Postgres, next
	// to the Ops DB, as docker-compose.yml does.
	Temporal string
	// TemporalPersistent keeps the dev server's state in a file (restart
	// tests); the PostgreSQL-backed server always keeps it.
	TemporalPersistent bool
	// NoGzip turns off gRPC compression on every Temporal client of the stack
	// (the SDK compresses by default).
	NoGzip bool
	// DynamicConfig are the Temporal server's dynamic config values
	// (KEY → JSON value; experiments).
	DynamicConfig map[string]string
	// NoBaselineWorker skips the baseline worker (chaos tests).
	NoBaselineWorker bool
	// LogLevel of the worker and web logs (written to Dir/guildhall.log).
	LogLevel slog.Level
	// WorkerBinary, when set, runs the Guildhall worker as a child process
	// (`<WorkerBinary> worker`, its log in Dir/worker.log) instead of in this
	// process, so it can be killed and its memory measured. WorkerEnv is added to
	// its environment.
	WorkerBinary string
	WorkerEnv    []string
	// DevLogin enables the web app's development login (loopback only).
	DevLogin bool
	// WrapCeremonies wraps the web app's workflow client (tests count what
	// reaches the workflow through it).
	WrapCeremonies func(web.Ceremonies) web.Ceremonies
	// SetDefaultLogger makes the stack's log file slog's default, so library
	// logs (notifications, SDK) do not go to the terminal.
	SetDefaultLogger bool
}

// Stack is a self-contained Guildhall: a throwaway Postgres (initdb), a Temporal
// server (dev or PostgreSQL-backed), and in this process the Guildhall worker, a baseline worker with
// the same options, and the web app on a loopback port.
type Stack struct {
	Target
	Dir    string
	PG     *pgtemp.Server
	Server testenv.Temporal
	Web    *web.App
	// Worker is the child worker process (StackOptions.WorkerBinary), else nil;
	// WorkerMetrics is its /metrics URL.
	Worker        *Child
	WorkerMetrics string
	DBURL         string
	LogFile       string
	closers       []func()
}

// StartStack starts everything; Close stops it and removes the throwaway state.
func StartStack(ctx context.Context, o StackOptions) (_ *Stack, err error) {
	s := &Stack{Dir: o.Dir}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "guildhall-bench-*"); err != nil {
			return nil, err
		}
		dir := s.Dir
		s.closers = append(s.closers, func() { os.RemoveAll(dir) })
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, err
	}
	if o.PoolSize <= 0 {
		o.PoolSize = 10
	}
	s.LogFile = filepath.Join(s.Dir, "guildhall.log")
	lf, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { lf.Close() })
	log := slog.New(slog.NewJSONHandler(lf, &slog.HandlerOptions{Level: o.LogLevel}))
	if o.SetDefaultLogger {
		prev := slog.Default()
		slog.SetDefault(log)
		s.closers = append(s.closers, func() { slog.SetDefault(prev) })
	}

	if s.PG, err = pgtemp.Start(ctx, pgtemp.Options{Settings: o.PGSettings}); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.PG.Destroy)
	dbURL, err := s.PG.CreateDatabase(ctx, "guildhall")
	if err != nil {
		return nil, err
	}
	if o.DBParams != "" {
		dbURL += "&" + o.DBParams
	}
	s.DBURL = dbURL
	kind := o.Temporal
	if kind == "" {
		kind = testenv.Kind()
	}
	if s.Server, err = testenv.StartTemporalKind(ctx, kind, testenv.TemporalOptions{Dir: s.Dir, Persistent: o.TemporalPersistent,
		DynamicConfig: o.DynamicConfig, PostgresURL: s.PG.AdminURL(), Metrics: true, MaxConns: 15}); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.Server.Close)
	s.ServerMetrics, s.ServerName = s.Server.MetricsURL(), ServerName(kind)

	open := func() (*store.Store, error) {
		st, err := store.Open(ctx, store.Options{URL: dbURL, PoolSize: o.PoolSize})
		if err == nil {
			s.closers = append(s.closers, func() { st.Close() })
		}
		return st, err
	}
	dial := func(identity string) (client.Client, error) {
		co := client.Options{HostPort: s.Server.HostPort(), Identity: identity,
			Logger: tlog.NewStructuredLogger(log.With("component", identity))}
		if o.NoGzip {
			co.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
		}
		c, err := client.DialContext(ctx, co)
		if err == nil {
			s.closers = append(s.closers, c.Close)
		}
		return c, err
	}
	// The bench's own handle on the Ops DB (provisioning, checks) is separate
	// from the worker's and the web app's pools, as in a deployment.
	if s.Store, err = open(); err != nil {
		return nil, err
	}
	if _, err := s.Store.MigrateUp(ctx); err != nil {
		return nil, err
	}
	if s.Temporal, err = dial("guildhall-bench"); err != nil {
		return nil, err
	}

	if o.WorkerBinary != "" {
		metricsPort, err := devserver.FreePort()
		if err != nil {
			return nil, err
		}
		s.Worker = &Child{Path: o.WorkerBinary, Args: []string{"worker"}, LogPath: filepath.Join(s.Dir, "worker.log"),
			Env: append([]string{"DATABASE_URL=" + dbURL, "TEMPORAL_ADDRESS=" + s.Server.HostPort(), "TEMPORAL_NAMESPACE=default",
				fmt.Sprintf("POOL_SIZE=%d", o.PoolSize), fmt.Sprintf("METRICS_ADDR=127.0.0.1:%d", metricsPort),
				"LOG_FORMAT=json"}, o.WorkerEnv...)}
		s.WorkerMetrics = fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
		if err := s.Worker.Start(); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, s.Worker.Stop)
	} else {
		workerStore, err := open()
		if err != nil {
			return nil, err
		}
		wc, err := dial("guildhall-worker")
		if err != nil {
			return nil, err
		}
		// No notifiers: the development recorder logs, as `guildhall worker` does
		// with no NOTIFY_* settings.
		acts := &activities.Activities{Store: workerStore}
		w := worker.New(wc, acts, worker.Options{Options: o.WorkerOptions})
		if err := w.Start(); err != nil {
			return nil, fmt.Errorf("start worker: %w", err)
		}
		s.closers = append(s.closers, w.Stop)
	}
	if !o.NoBaselineWorker {
		bc, err := dial("guildhall-bench-baseline-worker")
		if err != nil {
			return nil, err
		}
		bw := NewBaselineWorker(bc, o.WorkerOptions)
		if err := bw.Start(); err != nil {
			return nil, fmt.Errorf("start baseline worker: %w", err)
		}
		s.closers = append(s.closers, bw.Stop)
	}

	webStore, err := open()
	if err != nil {
		return nil, err
	}
	webc, err := dial("guildhall-web")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.BaseURL = "http://" + ln.Addr().String()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s.Secret = []byte(hex.EncodeToString(secret))
	var cer web.Ceremonies = ceremonyclient.New(webc)
	if o.WrapCeremonies != nil {
		cer = o.WrapCeremonies(cer)
	}
	if s.Web, err = web.New(web.Config{BaseURL: s.BaseURL, SessionSecret: s.Secret, DevLogin: o.DevLogin},
		web.Deps{Store: webStore, Ceremonies: cer, Logger: log.With("component", "web")}); err != nil {
		ln.Close()
		return nil, err
	}
	srv := web.NewServer(ln.Addr().String(), s.Web)
	srv.ErrorLog = nil
	go func() { _ = srv.Serve(ln) }()
	s.closers = append(s.closers, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	if err := waitHTTP(ctx, s.BaseURL+"/health"); err != nil {
		return nil, err
	}
	s.Procs = []Proc{{Name: temporalProc, Find: s.temporalPIDs}, {Name: "postgres", Find: s.postgresPIDs}}
	return s, nil
}

// Close stops everything StartStack started, in reverse order.
func (s *Stack) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

func waitHTTP(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready: %w", url, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var errNoProc = errors.New("process not found")

// ServerName describes a Temporal server kind for reports.
func ServerName(kind string) string {
	switch kind {
	case testenv.Postgres:
		v, _ := temporalserver.Version()
		return "go.temporal.io/server " + v + ", PostgreSQL persistence and SQL visibility (databases in the stack's throwaway Postgres)"
	case testenv.Dev:
		return "temporal CLI " + devserver.TemporalVersion + " dev server (SQLite in memory)"
	}
	return kind
}
