// Command guildhall is the Guildhall ceremony orchestrator: one binary whose
// subcommands run the worker, the web app, the watcher, migrations and tools.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "guildhall:", err)
		}
		os.Exit(1)
	}
}

// Set at build time with -ldflags "-X main.version=v0.1.0 -X main.revision=<sha>".
var (
	version  = "dev"
	revision = "unknown"
)

// errReported means the command already told the user what went wrong.
var errReported = errors.New("reported")

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "guildhall",
		Short:         "Guildhall orchestrates governance ceremonies on Temporal",
		Version:       version + " (" + revision + ")",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newDevCmd(),
		newWorkerCmd(),
		newWebCmd(),
		newMigrateCmd(),
		newSeedCmd(),
		newHealthcheckCmd(),
		newWatcherCmd(),
		newVerifyCmd(),
		newEvidenceCmd(),
		newKeygenCmd(),
		newWitnessCmd(),
		newTemplateCmd(),
		newSignCmd(),
		newChronicleCmd(),
		newProveKeyCmd(),
		newSessionsCmd(),
		newWebkeyCmd(),
		newIntuneCmd(),
		newConfigCmd(),
		newTemporalCmd(),
	)
	return root
}
