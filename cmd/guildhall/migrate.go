package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/guildhouse/guildhall/store"
)

func newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate up|down [N]|status",
		Short: "Apply, roll back or list Ops DB migrations (DATABASE_URL, or the embedded database)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Args:  cobra.NoArgs,
		RunE: withStore(func(cmd *cobra.Command, _ []string, s *store.Store) error {
			names, err := s.MigrateUp(cmd.Context())
			if err != nil {
				return err
			}
			if len(names) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to migrate: the Ops DB is up to date")
			}
			for _, n := range names {
				fmt.Fprintln(cmd.OutOrStdout(), "applied", n)
			}
			return nil
		}),
	}, &cobra.Command{
		Use:   "down [N]",
		Short: "Roll back the N most recent migrations (default 1)",
		Args:  cobra.MaximumNArgs(1),
		RunE: withStore(func(cmd *cobra.Command, args []string, s *store.Store) error {
			n := 1
			if len(args) == 1 {
				v, err := strconv.Atoi(args[0])
				if err != nil || v < 1 {
					return fmt.Errorf("N must be a positive number, not %q", args[0])
				}
				n = v
			}
			names, err := s.MigrateDown(cmd.Context(), n)
			if err != nil {
				return err
			}
			if len(names) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to roll back")
			}
			for _, name := range names {
				fmt.Fprintln(cmd.OutOrStdout(), "rolled back", name)
			}
			return nil
		}),
	}, &cobra.Command{
		Use:   "status",
		Short: "List migrations and whether each is applied",
		Args:  cobra.NoArgs,
		RunE: withStore(func(cmd *cobra.Command, _ []string, s *store.Store) error {
			st, err := s.MigrationStatuses(cmd.Context())
			if err != nil {
				return err
			}
			for _, m := range st {
				state := "pending"
				if m.Applied {
					state = "applied " + m.At.UTC().Format("2006-01-02 15:04:05Z")
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%-40s %s\n", m.Name, state)
			}
			return nil
		}),
	})
	return cmd
}
