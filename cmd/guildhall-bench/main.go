// Command guildhall-bench measures Guildhall (see BENCHMARKS.md): signing through
// the HTTP API against bare Temporal on the same server, the worker's memory per
// open ceremony, and custody-chain verification against a plain read. It is a
// development tool, built by `make bench` and kept out of the production binary
// and image.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/guildhouse/guildhall/bench"
	"github.com/guildhouse/guildhall/internal/config"
	"github.com/guildhouse/guildhall/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	root := newSignCmd()
	root.AddCommand(newMemoryCmd(), newVerifyCmd())
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "guildhall-bench:", err)
		os.Exit(1)
	}
}

func newVerifyCmd() *cobra.Command {
	var rounds int
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Time `guildhall verify` against a plain read of the same custody rows (DATABASE_URL)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadTool()
			if err != nil {
				return err
			}
			s, err := store.Open(cmd.Context(), store.Options{URL: cfg.URL, PoolSize: cfg.PoolSize})
			if err != nil {
				return err
			}
			defer s.Close()
			b, err := bench.RunChain(cmd.Context(), s, rounds)
			if err != nil {
				return err
			}
			b.WriteText(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().IntVar(&rounds, "rounds", 5, "rounds")
	return cmd
}

func commandLine() string {
	return strings.Join(append([]string{"guildhall-bench"}, os.Args[1:]...), " ")
}

var errCheckFailed = errors.New("the Ops DB check failed: see above")
