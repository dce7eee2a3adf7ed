package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// AdminURL is the Postgres the tests create their databases in:
// $GUILDHALL_TEST_PG or the machine's local server with trust auth.
func AdminURL() string {
	if u := os.Getenv("GUILDHALL_TEST_PG"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Database is a throwaway Postgres database.
type Database struct {
	URL  string
	Name string
}

// CreateDatabase creates a fresh, uniquely named database and returns its URL.
// Drop removes it.
func CreateDatabase(ctx context.Context, prefix string) (*Database, error) {
	admin, err := sql.Open("pgx", AdminURL())
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("postgres at %s is not reachable (start it, see .ci/run): %w", AdminURL(), err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := fmt.Sprintf("%s_%s", prefix, hex.EncodeToString(b))
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, _ := url.Parse(AdminURL())
	u.Path = "/" + name
	return &Database{URL: u.String(), Name: name}, nil
}

// Drop removes the database, ending any sessions still connected.
func (d *Database) Drop(ctx context.Context) error {
	admin, err := sql.Open("pgx", AdminURL())
	if err != nil {
		return err
	}
	defer admin.Close()
	_, err = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+d.Name+" WITH (FORCE)")
	return err
}
