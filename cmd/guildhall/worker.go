package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/worker"
)

func newWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run the Temporal worker for Ceremony workflows and activities",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(env("LOG_FORMAT", "json"))
			ctx := cmd.Context()
			s, err := openStore(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			c, err := dialTemporal(ctx, "guildhall-worker")
			if err != nil {
				return err
			}
			defer c.Close()
			return runWorker(ctx, log, worker.New(c, newActivities(s), worker.Options{}))
		},
	}
}

func newActivities(s *store.Store) *activities.Activities {
	return &activities.Activities{Store: s}
}

// runWorker runs w until ctx ends, then stops it, letting running activities
// finish (the SDK waits for them up to the worker's stop timeout).
func runWorker(ctx context.Context, log *slog.Logger, w sdkworker.Worker) error {
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	log.Info("worker started")
	<-ctx.Done()
	log.Info("worker stopping")
	w.Stop()
	return nil
}
