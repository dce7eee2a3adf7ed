package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/notify"
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
			if err := checkNotifyConfig(log); err != nil {
				return err
			}
			s, err := openStore(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			mh, err := temporalMetrics()
			if err != nil {
				return err
			}
			go serveMetrics(ctx, log, env("METRICS_ADDR", ":9090"))
			c, err := ceremonyclient.Dial(ctx, ceremonyclient.Options{Identity: "guildhall-worker", MetricsHandler: mh})
			if err != nil {
				return err
			}
			defer c.Close()
			if err := requireSearchAttributes(ctx, c); err != nil {
				return err
			}
			return runWorker(ctx, log, worker.New(c, newActivities(s), workerOptions()))
		},
	}
}

// workerOptions gives running activities time to finish on SIGTERM; Kubernetes
// waits terminationGracePeriodSeconds (30 s by default) before SIGKILL.
func workerOptions() worker.Options {
	return worker.Options{Options: sdkworker.Options{WorkerStopTimeout: 20 * time.Second}}
}

// newActivities wires the activities: the Ops DB and the notifiers the
// environment configures (notify.FromEnv; the development log recorder when
// none). checkNotifyConfig has refused a bad configuration before this runs.
func newActivities(s *store.Store) *activities.Activities {
	ns, err := notify.FromEnv(os.Getenv, slog.Default())
	if err != nil {
		slog.Error("notification settings ignored", "error", err)
		ns = nil
	}
	return &activities.Activities{Store: s, Notifiers: ns, BaseURL: env("GUILDHALL_HOST", "http://localhost:4000")}
}

// checkNotifyConfig fails fast on bad NOTIFY_* settings and logs the channels.
func checkNotifyConfig(log *slog.Logger) error {
	ns, err := notify.FromEnv(os.Getenv, log)
	if err != nil {
		return err
	}
	channels := make([]string, len(ns))
	for i, n := range ns {
		channels[i] = n.Channel()
	}
	log.Info("notifications", "channels", channels)
	return nil
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
