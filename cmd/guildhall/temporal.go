package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/guildhouse/guildhall/ceremonyclient"
)

func newTemporalCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "temporal",
		Short: "Prepare the Temporal namespace Guildhall runs in",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "setup",
		Short: "Register the workflow's search attributes in TEMPORAL_NAMESPACE (safe to run again)",
		Long: `setup registers the search attributes of the workflow contract (CeremonyStatus,
CeremonyKind, ArtifactDigest, PendingWitnesses, CeremonyDeadline, CeremonyAttention)
in the namespace TEMPORAL_NAMESPACE of the Temporal server at TEMPORAL_ADDRESS,
through the operator API, and prints what was there and what it added. Attributes
that exist are left alone, so it is safe to run again. Run it once per Temporal
cluster before the first rollout (and after adding an attribute to the contract):
the worker, the web app and the watcher refuse to start until they are there. The
namespace must exist (temporal operator namespace create).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := toolConfig()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			c, err := dialTemporal(ctx, cfg.Temporal, "guildhall-setup", nil)
			if err != nil {
				return err
			}
			defer c.Close()
			return temporalSetup(ctx, cmd.OutOrStdout(), c, cfg.Temporal.Namespace)
		},
	})
	return cmd
}

// temporalSetup registers the missing search attributes and prints a table of
// all of them.
func temporalSetup(ctx context.Context, out io.Writer, c client.Client, namespace string) error {
	sas, err := ceremonyclient.New(c).EnsureSearchAttributes(ctx, namespace)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Temporal namespace %q, search attributes of the ceremony workflow:\n", namespace)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	added := 0
	for _, a := range sas {
		what := "already registered"
		if a.Added {
			what = "added"
			added++
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", a.Name, a.Type, what)
	}
	_ = tw.Flush()
	if added == 0 {
		fmt.Fprintln(out, "Nothing to do: all are registered.")
	} else {
		fmt.Fprintf(out, "Added %d, %d were already registered.\n", added, len(sas)-added)
	}
	return nil
}

// requireSearchAttributes stops a process at start-up when the namespace lacks
// the contract's search attributes: the first ceremony would fail otherwise.
func requireSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return ceremonyclient.New(c).CheckSearchAttributes(ctx, namespace)
}
