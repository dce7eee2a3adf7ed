// Command temporal-server is the Temporal server built from go.temporal.io/server
// at the version pinned in this module's go.mod, together with the server
// module's SQL schema tool, in one binary (they share almost every package, so
// one link instead of two). Guildhall's tests run it with PostgreSQL persistence
// and PostgreSQL SQL visibility, the production setup:
//
//	temporal-server start --config-file FILE     run all four services
//	temporal-server sql-tool ARGS...              temporal-sql-tool ARGS...
//
// Only the postgres12 plugin is linked: the tests use nothing else, and the
// MySQL and SQLite drivers would only lengthen the build.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	_ "time/tzdata" // as upstream: a fallback when the machine has no zoneinfo

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/headers"
	"go.temporal.io/server/common/log"
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql" // postgres12 plugin
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/tools/sql"
)

const usage = `usage:
  temporal-server start --config-file FILE
  temporal-server sql-tool [temporal-sql-tool arguments]
  temporal-server version`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "sql-tool":
		if err := sql.RunTool(append([]string{"temporal-sql-tool"}, os.Args[2:]...)); err != nil {
			os.Exit(1)
		}
	case "start":
		if err := start(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "temporal-server:", err)
			os.Exit(1)
		}
	case "version", "--version":
		fmt.Println(headers.ServerVersion)
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
}

// start runs the frontend, history, matching and worker services until SIGINT or
// SIGTERM, as upstream's `temporal-server start` does with a config file.
func start(args []string) error {
	fs := flag.NewFlagSet("start", flag.ContinueOnError)
	file := fs.String("config-file", "", "server config file (YAML)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("--config-file is required")
	}
	cfg, err := config.Load(config.WithConfigFile(*file))
	if err != nil {
		return fmt.Errorf("load %s: %w", *file, err)
	}
	logger := log.NewZapLogger(log.BuildZapLogger(cfg.Log))
	authorizer, err := authorization.GetAuthorizerFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return fmt.Errorf("authorizer: %w", err)
	}
	s, err := temporal.NewServer(
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithConfig(cfg),
		temporal.WithLogger(logger),
		temporal.InterruptOn(temporal.InterruptCh()),
		temporal.WithAuthorizer(authorizer),
	)
	if err != nil {
		return fmt.Errorf("create server: %w", err)
	}
	return s.Start() // blocks until interrupted
}
