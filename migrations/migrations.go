// Package migrations holds the Ops DB schema as SQL files embedded in the binary,
// one folder per dialect, applied with bun's migrate package.
//
// Both folders carry the same migration names so `migrate status` reads the same on
// Postgres and on the embedded SQLite default. Files ending in .tx.up.sql run in a
// transaction; statements are separated by `--bun:split` lines.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/uptrace/bun/migrate"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// For returns the migrations of a dialect: "postgres" or "sqlite".
func For(dialect string) (*migrate.Migrations, error) {
	sub, err := fs.Sub(files, dialect)
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", dialect, err)
	}
	m := migrate.NewMigrations()
	if err := m.Discover(sub); err != nil {
		return nil, fmt.Errorf("load %s migrations: %w", dialect, err)
	}
	return m, nil
}
