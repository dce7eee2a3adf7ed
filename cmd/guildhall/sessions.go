package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/guildhouse/guildhall/store"
)

// guildhall sessions: an operator lists and ends a person's web sessions and
// API tokens straight in the Ops DB (a stolen laptop at 3 a.m., with no admin
// at hand); the web checks every request against it, so an end takes effect
// at once on every replica.
func newSessionsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sessions list|end",
		Short: "List or end a person's web sessions and API tokens",
		Long: `sessions lists a person's live web sessions and API tokens, and ends them. An
ended session or token stops working at once on every web replica (the web
checks each request against the Ops DB); the person logs in again or makes a new
token. Admins do the same through the API: POST /api/v1/witnesses/{id}/sessions/end.

  guildhall sessions list bob@example.org
  guildhall sessions end bob@example.org                 # all sessions and tokens
  guildhall sessions end bob@example.org --kind token    # only the API tokens
  guildhall sessions end bob@example.org --id 3f2a…      # one, by the id list shows`,
	}
	list := &cobra.Command{
		Use:   "list <witness-id>",
		Short: "List a person's live sessions and tokens",
		Args:  cobra.ExactArgs(1),
		RunE: withStore(func(cmd *cobra.Command, args []string, s *store.Store) error {
			live, err := s.LiveWebSessions(cmd.Context(), args[0], time.Now())
			if err != nil {
				return err
			}
			if len(live) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s has no live session or token\n", args[0])
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tVIA\tLABEL\tCREATED\tLAST USED\tEXPIRES")
			for _, w := range live {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", w.ID[:16], w.Kind, w.Via, w.Label,
					w.CreatedAt.UTC().Format(time.RFC3339), w.LastUsedAt.UTC().Format(time.RFC3339), w.ExpiresAt.UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		}),
	}
	var kind, id string
	end := &cobra.Command{
		Use:   "end <witness-id> [--kind session|token] [--id ID]",
		Short: "End a person's sessions and tokens (all, one kind, or one)",
		Args:  cobra.ExactArgs(1),
		RunE: withStore(func(cmd *cobra.Command, args []string, s *store.Store) error {
			if kind != "" && kind != store.KindSession && kind != store.KindToken {
				return errors.New("--kind is session or token (or leave it out for both)")
			}
			if id != "" {
				full, err := fullSessionID(cmd, s, args[0], id)
				if err != nil {
					return err
				}
				id = full
			}
			n, err := s.EndWebSessions(cmd.Context(), args[0], kind, id, "", cliActor(), store.EndByAdmin, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ended %d session(s) and token(s) of %s\n", n, args[0])
			return nil
		}),
	}
	end.Flags().StringVar(&kind, "kind", "", "session or token (default: both)")
	end.Flags().StringVar(&id, "id", "", "end only this one (the id, or its start, as list shows it)")
	cmd.AddCommand(list, end)
	return cmd
}

// fullSessionID finds the live session or token of witness whose id starts
// with prefix, as `sessions list` shows it.
func fullSessionID(cmd *cobra.Command, s *store.Store, witness, prefix string) (string, error) {
	live, err := s.LiveWebSessions(cmd.Context(), witness, time.Now())
	if err != nil {
		return "", err
	}
	var found []string
	for _, w := range live {
		if len(prefix) >= 8 && len(w.ID) >= len(prefix) && w.ID[:len(prefix)] == prefix {
			found = append(found, w.ID)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%s has no live session or token %s (at least 8 characters of an id from `guildhall sessions list`)", witness, prefix)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%s names %d sessions or tokens; give more of its id", prefix, len(found))
}
