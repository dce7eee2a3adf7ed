package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/internal/config"
	"github.com/guildhouse/guildhall/store"
)

// configure loads a role's configuration (once, at start), sets up the process
// logger from it and warns about variables no role reads. A bad configuration is
// an error listing every problem, each naming its variable.
func configure[T interface{ Log() config.Logging }](load func() (T, error)) (T, *slog.Logger, error) {
	cfg, err := load()
	if err != nil {
		return cfg, nil, configError(err)
	}
	log := newLogger(cfg.Log().LogFormat)
	for _, w := range config.Unknown(os.Environ()) {
		log.Warn(w)
	}
	return cfg, log, nil
}

// configError lists the problems of a configuration one per line.
func configError(err error) error {
	lines := strings.Split(err.Error(), "\n")
	return fmt.Errorf("the configuration is not usable (see `guildhall config --help`):\n  - %s", strings.Join(lines, "\n  - "))
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

// openStore opens the Ops DB (embedded SQLite when DATABASE_URL is unset).
func openStore(ctx context.Context, db config.Database) (*store.Store, error) {
	s, err := store.Open(ctx, store.Options{URL: db.URL, PoolSize: db.PoolSize})
	if err != nil {
		return nil, err
	}
	slog.Debug("ops db connected", "dialect", s.Dialect)
	return s, nil
}

// dialTemporal connects to the configured Temporal frontend and namespace.
func dialTemporal(ctx context.Context, t config.Temporal, identity string, mh client.MetricsHandler) (client.Client, error) {
	c, err := ceremonyclient.Dial(ctx, ceremonyclient.Options{Address: t.Address, Namespace: t.Namespace, Identity: identity, MetricsHandler: mh})
	if err != nil {
		return nil, fmt.Errorf("%w (is the Temporal server running? `make run` starts a dev server)", err)
	}
	return c, nil
}

// toolConfig loads the command-line tools' configuration, once per process.
var toolConfig = sync.OnceValues(loadToolConfig)

func loadToolConfig() (config.Tool, error) {
	cfg, _, err := configure(config.LoadTool)
	return cfg, err
}

// withStore adapts fn to a RunE that opens the Ops DB for it and closes it after.
func withStore(fn func(cmd *cobra.Command, args []string, s *store.Store) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cfg, err := toolConfig()
		if err != nil {
			return err
		}
		s, err := openStore(cmd.Context(), cfg.Database)
		if err != nil {
			return err
		}
		defer s.Close()
		return fn(cmd, args, s)
	}
}

func newConfigCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "config [" + strings.Join(config.Roles, "|") + "]",
		Short: "Print the effective configuration of a role (secrets hidden) and every problem with it",
		Long: `config reads the environment exactly as the role would at start and prints each
setting, its value (secrets hidden; a database URL keeps all but its password)
and what it means, then every problem the role would refuse to start with and
every GUILDHALL_*, NOTIFY_*, OIDC_* or GRAPH_* variable that no role reads.
It exits 1 when the role would not start. Without an argument it shows the web's.`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: config.Roles,
		RunE: func(cmd *cobra.Command, args []string) error {
			role := "web"
			if len(args) == 1 {
				role = args[0]
			}
			cfg, problems := config.Inspect(role, os.LookupEnv)
			if cfg == nil {
				return problems
			}
			out := cmd.OutOrStdout()
			if err := config.Print(out, cfg); err != nil {
				return err
			}
			for _, w := range config.Unknown(os.Environ()) {
				fmt.Fprintln(out, "warning:", w)
			}
			if problems != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), configError(problems))
				return errReported
			}
			fmt.Fprintf(out, "\nThe %s configuration is usable.\n", role)
			return nil
		},
	}
}

// dialTool connects a command-line tool to Temporal.
func dialTool(ctx context.Context, identity string) (client.Client, error) {
	cfg, err := toolConfig()
	if err != nil {
		return nil, err
	}
	return dialTemporal(ctx, cfg.Temporal, identity, nil)
}
