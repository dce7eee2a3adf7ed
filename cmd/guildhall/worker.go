package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/internal/config"
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
			cfg, log, err := configure(config.LoadWorker)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			setWorkflowCacheSize(cfg.WorkflowCacheSize)
			s, err := openStore(ctx, cfg.Database)
			if err != nil {
				return err
			}
			defer s.Close()
			mh, err := temporalMetrics()
			if err != nil {
				return err
			}
			go serveMetrics(ctx, log, cfg.MetricsAddr)
			c, err := dialTemporal(ctx, cfg.Temporal, "guildhall-worker", mh)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := requireSearchAttributes(ctx, c, cfg.Temporal.Namespace); err != nil {
				return err
			}
			acts := newActivities(s, cfg.Notify, cfg.Host, log)
			if err := withGraph(acts, cfg.Graph, log); err != nil {
				return err
			}
			keepDriftSchedule(ctx, ceremonyclient.New(c), cfg.Graph, log)
			return runWorker(ctx, log, worker.New(c, acts, workerOptions()))
		},
	}
}

// workerOptions gives running activities time to finish on SIGTERM; Kubernetes
// waits terminationGracePeriodSeconds (30 s by default) before SIGKILL.
func workerOptions() worker.Options {
	return worker.Options{Options: sdkworker.Options{WorkerStopTimeout: 20 * time.Second}}
}

// newActivities wires the activities to the Ops DB and the notifiers the
// configuration turns on (the development log recorder when none), and logs the
// channels.
func newActivities(s *store.Store, n config.Notify, baseURL string, log *slog.Logger) *activities.Activities {
	ns := notify.New(notify.Settings{SMTPAddr: n.SMTPAddr, SMTPFrom: n.SMTPFrom, SMTPUsername: n.SMTPUsername,
		SMTPPassword: n.SMTPPassword, WebhookURL: n.WebhookURL, WebhookFormat: n.WebhookFormat}, log)
	channels := make([]string, len(ns))
	for i, c := range ns {
		channels[i] = c.Channel()
	}
	log.Info("notifications", "channels", channels)
	return &activities.Activities{Store: s, Notifiers: ns, BaseURL: baseURL}
}

// withGraph turns the Graph bridge on in acts when it is configured.
func withGraph(acts *activities.Activities, g config.Graph, log *slog.Logger) error {
	graph, err := newGraph(g, log)
	if err != nil {
		return err
	}
	if graph != nil {
		acts.Graph = graph
	}
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
