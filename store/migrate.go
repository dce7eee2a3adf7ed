package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun/migrate"

	"github.com/guildhouse/guildhall/migrations"
)

// migrationLockKey is the Postgres advisory lock that serialises migrators.
const migrationLockKey = 0x6775696c64 // "guild"

// MigrationStatus is one migration and whether it is applied.
type MigrationStatus struct {
	Name    string
	Applied bool
	At      time.Time
}

func (s *Store) migrator() (*migrate.Migrator, error) {
	ms, err := migrations.For(s.Dialect)
	if err != nil {
		return nil, err
	}
	return migrate.NewMigrator(s.DB, ms, migrate.WithMarkAppliedOnSuccess(true)), nil
}

// withMigrationLock runs fn while holding a lock that other migrating processes
// wait on, so two `migrate up` at once apply each migration exactly once.
func (s *Store) withMigrationLock(ctx context.Context, fn func(*migrate.Migrator) error) error {
	m, err := s.migrator()
	if err != nil {
		return err
	}
	if s.Dialect != Postgres {
		// SQLite: the single connection and immediate transactions serialise
		// writers in this process; busy_timeout makes other processes wait.
		if err := m.Init(ctx); err != nil {
			return fmt.Errorf("prepare migration tables: %w", err)
		}
		return fn(m)
	}
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", migrationLockKey); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", migrationLockKey)
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("prepare migration tables: %w", err)
	}
	return fn(m)
}

// MigrateUp applies every pending migration and returns their names.
func (s *Store) MigrateUp(ctx context.Context) ([]string, error) {
	var names []string
	err := s.withMigrationLock(ctx, func(m *migrate.Migrator) error {
		g, err := m.Migrate(ctx)
		if err != nil {
			return fmt.Errorf("migrate up: %w", err)
		}
		for _, mg := range g.Migrations {
			names = append(names, mg.Name)
		}
		return nil
	})
	return names, err
}

// MigrateDown rolls back the n most recently applied migrations.
func (s *Store) MigrateDown(ctx context.Context, n int) ([]string, error) {
	var names []string
	err := s.withMigrationLock(ctx, func(m *migrate.Migrator) error {
		all, err := m.MigrationsWithStatus(ctx)
		if err != nil {
			return fmt.Errorf("read migration status: %w", err)
		}
		applied := all.Applied() // newest first
		for i := 0; i < n && i < len(applied); i++ {
			mg := applied[i]
			if mg.Down != nil {
				if err := mg.Down(ctx, m, &mg); err != nil {
					return fmt.Errorf("migrate down %s: %w", mg.Name, err)
				}
			}
			if err := m.MarkUnapplied(ctx, &mg); err != nil {
				return fmt.Errorf("mark %s unapplied: %w", mg.Name, err)
			}
			names = append(names, mg.Name)
		}
		return nil
	})
	return names, err
}

// MigrationStatuses lists every known migration, oldest first.
func (s *Store) MigrationStatuses(ctx context.Context) ([]MigrationStatus, error) {
	var out []MigrationStatus
	err := s.withMigrationLock(ctx, func(m *migrate.Migrator) error {
		all, err := m.MigrationsWithStatus(ctx)
		if err != nil {
			return fmt.Errorf("read migration status: %w", err)
		}
		for _, mg := range all {
			out = append(out, MigrationStatus{Name: mg.Name, Applied: mg.IsApplied(), At: mg.MigratedAt})
		}
		return nil
	})
	return out, err
}
