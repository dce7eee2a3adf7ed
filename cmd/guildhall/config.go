package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/store"
)

// env returns the environment variable or def.
func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(key string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil && v > 0 {
		return v
	}
	return def
}

// newLogger returns the process logger: JSON in production, text for people.
func newLogger(format string) *slog.Logger {
	var h slog.Handler
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if format == "text" {
		h = slog.NewTextHandler(os.Stderr, opts)
	} else {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	l := slog.New(h)
	slog.SetDefault(l)
	return l
}

// openStore opens the Ops DB from DATABASE_URL (embedded SQLite when unset).
func openStore(ctx context.Context) (*store.Store, error) {
	s, err := store.Open(ctx, store.Options{URL: os.Getenv("DATABASE_URL"), PoolSize: envInt("POOL_SIZE", 10)})
	if err != nil {
		return nil, err
	}
	slog.Debug("ops db connected", "dialect", s.Dialect)
	return s, nil
}

// dialTemporal connects to TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE.
func dialTemporal(ctx context.Context, identity string) (client.Client, error) {
	c, err := ceremonyclient.Dial(ctx, ceremonyclient.Options{Identity: identity})
	if err != nil {
		return nil, fmt.Errorf("%w (is the Temporal server running? `make run` starts a dev server)", err)
	}
	return c, nil
}

// withStore adapts fn to a RunE that opens the Ops DB for it and closes it after.
func withStore(fn func(cmd *cobra.Command, args []string, s *store.Store) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		s, err := openStore(cmd.Context())
		if err != nil {
			return err
		}
		defer s.Close()
		return fn(cmd, args, s)
	}
}
