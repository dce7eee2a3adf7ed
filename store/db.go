// Package store is the Ops DB: witnesses, artifacts, ceremonies, signatures and the
// custody chain, through bun on Postgres (DATABASE_URL) or on an embedded SQLite
// file when no DATABASE_URL is given. Both behave the same; the tests run on both.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", pure Go
)

// Dialects.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// DefaultSQLitePath is where the embedded database lives when DATABASE_URL is unset.
const DefaultSQLitePath = ".data/guildhall.db"

// Store is the Ops DB.
type Store struct {
	DB      *bun.DB
	Dialect string
}

// Options configure Open.
type Options struct {
	// URL is a postgres:// URL, or sqlite:<path> / a bare file path; empty means
	// the embedded default.
	URL      string
	PoolSize int
}

// Open connects to the Ops DB described by o.URL.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.PoolSize <= 0 {
		o.PoolSize = 10
	}
	var (
		sqldb   *sql.DB
		db      *bun.DB
		dialect string
		err     error
	)
	switch {
	case strings.HasPrefix(o.URL, "postgres://"), strings.HasPrefix(o.URL, "postgresql://"):
		dialect = Postgres
		sqldb, err = sql.Open("pgx", withSimpleProtocol(o.URL))
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqldb.SetMaxOpenConns(o.PoolSize)
		sqldb.SetMaxIdleConns(o.PoolSize)
		sqldb.SetConnMaxIdleTime(5 * time.Minute)
		db = bun.NewDB(sqldb, pgdialect.New())
	default:
		dialect = SQLite
		path := strings.TrimPrefix(strings.TrimPrefix(o.URL, "sqlite://"), "sqlite:")
		if path == "" {
			path = DefaultSQLitePath
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create folder for embedded database: %w", err)
		}
		dsn := "file:" + path + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate"
		sqldb, err = sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("open embedded database %s: %w", path, err)
		}
		// One writer at a time is SQLite's model; a single connection also
		// serialises custody appends without a lock of our own.
		sqldb.SetMaxOpenConns(1)
		db = bun.NewDB(sqldb, sqlitedialect.New())
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to the Ops DB (%s): %w", dialect, err)
	}
	return &Store{DB: db, Dialect: dialect}, nil
}

// withSimpleProtocol makes pgx send each query in one round trip without
// preparing it, unless the URL chooses a mode itself. bun already writes the
// arguments into the SQL text, so preparing buys nothing: every distinct text
// would cost an extra round trip and a slot in a statement cache of one-off
// queries (BENCHMARKS.md, "Where the time goes").
func withSimpleProtocol(url string) string {
	if strings.Contains(url, "default_query_exec_mode=") {
		return url
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "default_query_exec_mode=simple_protocol"
}

// Close closes the connection pool.
func (s *Store) Close() error { return s.DB.Close() }

// Ping checks the database answers SELECT 1.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.DB.NewRaw("SELECT 1").Scan(ctx, &one); err != nil {
		return fmt.Errorf("database did not answer: %w", err)
	}
	return nil
}

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
