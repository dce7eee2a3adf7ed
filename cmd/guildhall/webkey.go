package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/guildhouse/guildhall/store"
)

// guildhall webkey: the web app's vouching keys (derived from SESSION_SECRET,
// registered by every web replica at start). After rotating SESSION_SECRET an
// operator retires the old key so a leaked old secret no longer vouches.
func newWebkeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webkey list|retire",
		Short: "List the web's vouching keys, or retire one after rotating SESSION_SECRET",
		Long: `Each web replica derives a vouching key from SESSION_SECRET and registers it in
the Ops DB at start; the workflows count a signature the web app vouched for as
session or token assurance only when a registered, unretired key vouched for it.
Rotating SESSION_SECRET registers a new key but does not retire the old one:
retire it, so whoever holds the old secret can no longer vouch.

  guildhall webkey list
  guildhall webkey retire ed25519:0123456789abcdef --reason "SESSION_SECRET rotated, OPS-51"

A retired key stays retired: a web replica still set with the old secret refuses
to start and says so. Retiring the only unretired key is allowed (a leaked
secret is distrusted at once) with a warning: until a web replica starts with a
new secret, signatures from web logins count as operator, and ceremonies whose
policy asks for session assurance refuse them.`,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List every vouching key, retired ones too",
		Args:  cobra.NoArgs,
		RunE: withStore(func(cmd *cobra.Command, _ []string, s *store.Store) error {
			keys, err := s.AllWebKeys(cmd.Context())
			if err != nil {
				return err
			}
			if len(keys) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no web vouching key is registered (a web replica registers one at start)")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY ID\tADDED\tRETIRED\tBY\tREASON")
			for _, k := range keys {
				retired := "-"
				if k.Retired() {
					retired = k.RetiredAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.KeyID, k.AddedAt.UTC().Format(time.RFC3339), retired, k.RetiredBy, k.RetireReason)
			}
			return tw.Flush()
		}),
	}
	var reason string
	retire := &cobra.Command{
		Use:   "retire <key-id> --reason TEXT",
		Short: "Stop the workflows trusting a vouching key (after rotating SESSION_SECRET)",
		Args:  cobra.ExactArgs(1),
		RunE: withStore(func(cmd *cobra.Command, args []string, s *store.Store) error {
			id := args[0]
			retired, err := s.RetireWebKey(cmd.Context(), id, cliActor(), reason)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no web vouching key %s (the ids are in `guildhall webkey list`)", id)
			}
			if err != nil {
				return err
			}
			if !retired {
				fmt.Fprintf(cmd.OutOrStdout(), "web vouching key %s was already retired; nothing changed\n", id)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "retired web vouching key %s: the workflows no longer count its vouches, and a web replica with the secret it derives from will not start\n", id)
			live, err := s.WebKeys(cmd.Context())
			if err != nil {
				return err
			}
			if len(live) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: no unretired vouching key is left: until a web replica starts with a new SESSION_SECRET, "+
					"signatures from web logins and API tokens count as operator, and ceremonies that ask for session or token assurance refuse them")
			}
			return nil
		}),
	}
	retire.Flags().StringVar(&reason, "reason", "", "why (required; it goes on the custody chain)")
	cmd.AddCommand(list, retire)
	return cmd
}
