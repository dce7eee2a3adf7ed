package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/guildhouse/guildhall/chronicle"
	"github.com/guildhouse/guildhall/store"
)

func newChronicleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "chronicle import",
		Short: "Project Chronicle events into the Ops DB",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "import <file|->",
		Short: "Import Chronicle events from a JSON-lines file (- for stdin); replaying a file adds nothing",
		Long: `import projects one Chronicle event per line (see the chronicle package for the
format). Each event is stored once by its id and recorded on the custody chain;
artifact.revoked and artifact.proposed/observed events move the artifact lifecycle;
artifact.revoked also starts withdrawing the artifact's Intune deployments (the
Graph bridge), which needs Temporal (TEMPORAL_ADDRESS): if it cannot be reached,
the line fails as worth retrying, and importing the file again starts it.
A bad line is reported with its number and the reason and the rest carry on; the
command exits 1 when any line failed.`,
		Args: cobra.ExactArgs(1),
		RunE: withStore(func(cmd *cobra.Command, args []string, s *store.Store) error {
			var r io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("open %s: %w", args[0], err)
				}
				defer f.Close()
				r = f
			}
			temporal := &lazyTemporal{identity: "guildhall-cli"}
			defer temporal.Close()
			sum, err := chronicle.NewProjector(s).WithIntune(intuneWithdrawal(s, temporal.StartIntune)).Import(cmd.Context(), r)
			for _, e := range sum.Errors {
				id := ""
				if e.ID != "" {
					id = " (" + e.ID + ")"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "line %d%s: %s\n", e.Line, id, e.Error)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d events read: %d projected, %d already known, %d failed\n",
				sum.Lines, sum.Projected, sum.Duplicates, sum.Failed)
			if err != nil {
				return err
			}
			if sum.Failed > 0 {
				return errReported
			}
			return nil
		}),
	})
	return cmd
}
