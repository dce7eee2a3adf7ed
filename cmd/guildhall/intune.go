package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/chronicle"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/config"
	"github.com/guildhouse/guildhall/intune"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
)

// newGraph builds the Graph bridge's client from the configuration, or nil when
// the bridge is off. It contacts nothing: a wrong credential shows in the first
// deployment's record (and the log), naming the setting.
func newGraph(g config.Graph, log *slog.Logger) (*intune.Client, error) {
	if !g.Enabled() {
		log.Info("Graph bridge off (GRAPH_TENANT_ID is not set): sealed Intune targets wait, pending")
		return nil, nil
	}
	cfg := intune.Config{TenantID: g.TenantID, ClientID: g.ClientID, ClientSecret: g.ClientSecret,
		AuthorityURL: g.AuthorityURL, BaseURL: g.BaseURL, Scope: g.Scope, Log: log}
	if g.Certificate != "" {
		cert, err := intune.LoadCertificate(g.Certificate, g.CertificateKey)
		if err != nil {
			return nil, fmt.Errorf("GRAPH_CLIENT_CERTIFICATE: %w", err)
		}
		cfg.Certificate = cert
	}
	c, err := intune.New(cfg)
	if err != nil {
		return nil, err
	}
	log.Info("Graph bridge on", "tenant", g.TenantID, "client", g.ClientID, "graph", g.BaseURL, "drift_interval", g.Drift())
	return c, nil
}

// keepDriftSchedule creates or updates the drift check's Temporal Schedule when
// the bridge is on. A failure is logged, not fatal: ceremonies run without it.
func keepDriftSchedule(ctx context.Context, cc *ceremonyclient.Client, g config.Graph, log *slog.Logger) {
	if !g.Enabled() {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	what, err := cc.EnsureIntuneSchedule(sctx, contract.TaskQueue, g.Drift())
	if err != nil {
		log.Error("Graph bridge: the drift check's schedule could not be kept; drift is not checked until the worker restarts", "schedule", contract.IntuneDriftSchedule, "err", err)
		return
	}
	log.Info("Graph bridge: drift check scheduled", "schedule", contract.IntuneDriftSchedule, "every", g.Drift(), "schedule_was", what)
}

// intuneWithdrawal starts a revoked artifact's Intune withdrawal through start,
// reading the deployments from s.
func intuneWithdrawal(s *store.Store, start func(context.Context, contract.IntuneJob) error) *chronicle.IntuneWithdrawal {
	return &chronicle.IntuneWithdrawal{Deployments: s, Start: start}
}

func newIntuneCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "intune apply|status DIGEST",
		Short: "The Graph bridge: an artifact's Intune deployments, and carrying them out again",
		Long: `A sealed release ceremony with an Intune target is carried out by the worker as
Intune app assignments (Microsoft Graph). status shows, per ceremony of the artifact,
the target, what is being carried out (released, or revoked once the artifact
was), how far it got and what the last drift check found. apply carries the
current decision out again (after a person fixed what Graph refused, or to undo
drift): it is recorded on the custody chain as asked for by the operating-system
user running it.`,
	}
	var asJSON bool
	status := &cobra.Command{
		Use:   "status DIGEST",
		Short: "Show an artifact's Intune deployments (state, last error, drift)",
		Args:  cobra.ExactArgs(1),
		RunE: withStore(func(cmd *cobra.Command, args []string, s *store.Store) error {
			ds, err := deploymentsOf(cmd.Context(), s, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(ds)
			}
			printDeployments(cmd.OutOrStdout(), ds)
			return nil
		}),
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print the deployment rows as JSON")
	var wait time.Duration
	apply := &cobra.Command{
		Use:   "apply DIGEST",
		Short: "Carry an artifact's Intune decision out again (IntuneDeploy per ceremony), waiting up to --wait",
		Args:  cobra.ExactArgs(1),
		RunE: withStore(func(cmd *cobra.Command, args []string, s *store.Store) error {
			ctx := cmd.Context()
			ds, err := deploymentsOf(ctx, s, args[0])
			if err != nil {
				return err
			}
			art, err := s.GetArtifact(ctx, args[0])
			if err != nil {
				return err
			}
			c, err := dialTool(ctx, "guildhall-cli")
			if err != nil {
				return err
			}
			defer c.Close()
			cc := ceremonyclient.New(c)
			out := cmd.OutOrStdout()
			failed := false
			for _, d := range ds {
				job := contract.IntuneJob{CeremonyID: d.CeremonyID, Decision: store.IntuneDecisionFor(art.State), Digest: d.ArtifactDigest,
					Cause: contract.IntuneCauseOperator, By: cliActor()}
				run, err := cc.StartIntune(ctx, job)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "%s: carrying out %s (workflow %s)… ", d.CeremonyID, job.Decision, run.WorkflowID)
				wctx, cancel := context.WithTimeout(ctx, wait)
				var res activities.IntuneOutcome
				err = run.Wait(wctx, &res)
				cancel()
				switch {
				case err == nil && res.Outcome == "skipped":
					fmt.Fprintf(out, "nothing to do: %s\n", res.Reason)
				case err == nil:
					fmt.Fprintf(out, "done: %d change(s)\n", res.Changes)
				case errors.Is(err, context.DeadlineExceeded):
					fmt.Fprintf(out, "still running after %s (Graph may be slow or down); it keeps trying: see `guildhall intune status %s`\n", wait, d.ArtifactDigest)
				default:
					failed = true
					fmt.Fprintf(out, "failed: %s\n", plainWorkflowError(err))
				}
			}
			if failed {
				return errReported
			}
			return nil
		}),
	}
	apply.Flags().DurationVar(&wait, "wait", time.Minute, "how long to wait for each deployment before leaving it to run in the background")
	cmd.AddCommand(status, apply)
	return cmd
}

// deploymentsOf reads an artifact's deployments, or says why there are none.
func deploymentsOf(ctx context.Context, s *store.Store, digest string) ([]store.IntuneDeployment, error) {
	if !rules.Digest.MatchString(digest) {
		return nil, fmt.Errorf("%q is not an artifact digest (sha256:<64 lowercase hex digits>)", digest)
	}
	ds, err := s.IntuneDeploymentsOf(ctx, digest)
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, fmt.Errorf("artifact %s has no Intune deployment: none of its sealed ceremonies had an Intune target", digest)
	}
	return ds, nil
}

// plainWorkflowError is the innermost message of a workflow failure: what Graph
// or the bridge said.
func plainWorkflowError(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

func printDeployments(w io.Writer, ds []store.IntuneDeployment) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, d := range ds {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "ceremony\t%s\n", d.CeremonyID)
		if t, err := d.IntuneTarget(); err == nil {
			fmt.Fprintf(tw, "target\t%s\n", rules.IntuneWords(&t))
		}
		fmt.Fprintf(tw, "decision\t%s (%s by %s, %s)\n", d.Decision, d.Cause, d.RequestedBy, d.RequestedAt.UTC().Format(time.RFC3339))
		state := d.State
		if d.State == store.IntunePending && d.Attempts > 0 {
			state += fmt.Sprintf(" (%d failed tries; retrying)", d.Attempts)
		}
		fmt.Fprintf(tw, "state\t%s\n", state)
		if d.LastError != "" {
			fmt.Fprintf(tw, "last error\t%s\n", d.LastError)
		}
		if d.AppliedAt != nil {
			fmt.Fprintf(tw, "carried out\t%s\n", d.AppliedAt.UTC().Format(time.RFC3339))
		}
		switch {
		case d.CheckedAt == nil:
			fmt.Fprintf(tw, "drift\tnot checked yet\n")
		case d.CheckError != "":
			fmt.Fprintf(tw, "drift\tcould not check (%s): %s\n", d.CheckedAt.UTC().Format(time.RFC3339), d.CheckError)
		case d.Drifted():
			var cs []struct {
				Text string `json:"text"`
			}
			_ = json.Unmarshal([]byte(d.Drift), &cs)
			texts := make([]string, len(cs))
			for i, c := range cs {
				texts[i] = c.Text
			}
			fmt.Fprintf(tw, "drift\tINTUNE DIFFERS (%s): %s\n", d.CheckedAt.UTC().Format(time.RFC3339), strings.Join(texts, "; "))
		default:
			fmt.Fprintf(tw, "drift\tnone (%s)\n", d.CheckedAt.UTC().Format(time.RFC3339))
		}
	}
	_ = tw.Flush()
}
