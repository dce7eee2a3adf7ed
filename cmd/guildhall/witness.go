package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/guildhouse/guildhall/directory"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
)

// The directory from the command line: the same changes, checked by the same
// rules, as the admin pages and the API make (package directory), recorded on
// the custody chain as made by "cli:<os user>".

func newWitnessCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "witness add|set|deactivate|reactivate|tell|list|add-key|keys|remove-key",
		Short: "Keep the directory of people (roles, state) and their registered signing keys",
		Long: `witness keeps the directory: who the people are, the roles an admin gives them
(roles from the identity provider follow their groups at each login, see
OIDC_ROLE_MAP) and whether they may log in and sign. Every change is a custody
event naming the operating-system user who ran it ("cli:<user>").

  guildhall witness add ada@example.org --name "Ada Archer" --role admin
  guildhall witness set bob@example.org --role release --role security
  guildhall witness deactivate bob@example.org --reason "left the company"
  guildhall witness list --role security`,
	}
	cmd.AddCommand(witnessAddCmd(), witnessSetCmd(), witnessActiveCmd(false), witnessActiveCmd(true), witnessTellCmd(), witnessListCmd())
	cmd.AddCommand(witnessKeyCmds()...)
	return cmd
}

func witnessAddCmd() *cobra.Command {
	var name, email string
	var roles []string
	c := &cobra.Command{
		Use:   "add ID [--name NAME] [--email E-MAIL] [--role ROLE]...",
		Short: "Add a person to the directory with the roles an admin gives them",
		Long: `add adds a person. ID is their e-mail address or their identity provider
subject; their first login through the identity provider binds to this entry
(by the verified e-mail, or the subject). The first admin of a new deployment
is added this way: guildhall witness add you@example.org --role admin`,
		Args: cobra.ExactArgs(1),
		RunE: withStore(func(cmd *cobra.Command, args []string, s *store.Store) error {
			if email == "" && strings.Contains(args[0], "@") {
				email = args[0]
			}
			w, err := directory.Admin{Store: s}.Add(cmd.Context(), rules.PersonFields{ID: args[0], Name: name, Email: email, Roles: splitRoles(roles)}, cliActor())
			if errors.Is(err, store.ErrExists) {
				return fmt.Errorf("%s is already in the directory; change them with `guildhall witness set`", args[0])
			}
			if err != nil {
				return problemsError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %s (%s) with roles %s\n", w.ID, w.DisplayName, joinOr(w.Roles, "none"))
			return nil
		}),
	}
	c.Flags().StringVar(&name, "name", "", "display name (default: the id)")
	c.Flags().StringVar(&email, "email", "", "e-mail address (default: the id, when it is one)")
	c.Flags().StringSliceVar(&roles, "role", nil, "a role to give (repeat, or separate with commas)")
	return c
}

func witnessSetCmd() *cobra.Command {
	var name, email string
	var roles []string
	var noRoles bool
	c := &cobra.Command{
		Use:   "set ID [--name NAME] [--email E-MAIL] [--role ROLE]... [--no-roles]",
		Short: "Change a person's name, e-mail or the roles an admin gave them",
		Long: `set changes what its flags name and nothing else. --role replaces the roles an
admin gave (repeat it for several); --no-roles removes them all. Roles from the
identity provider are not changed here: they follow the person's groups.`,
		Args: cobra.ExactArgs(1),
		RunE: withStore(func(cmd *cobra.Command, args []string, s *store.Store) error {
			var ch store.PersonChange
			f := cmd.Flags()
			if f.Changed("name") {
				ch.DisplayName = &name
			}
			if f.Changed("email") {
				ch.Email = &email
			}
			switch {
			case noRoles && f.Changed("role"):
				return errors.New("give --role or --no-roles, not both")
			case noRoles:
				ch.Roles = &[]string{}
			case f.Changed("role"):
				r := splitRoles(roles)
				ch.Roles = &r
			}
			if ch == (store.PersonChange{}) {
				return errors.New("nothing to change: give --name, --email, --role or --no-roles")
			}
			w, changed, err := directory.Admin{Store: s}.Change(cmd.Context(), args[0], ch, cliActor())
			if err != nil {
				return problemsError(err)
			}
			if !changed {
				fmt.Fprintf(cmd.OutOrStdout(), "%s unchanged\n", w.ID)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "changed %s: %s, %s, roles %s\n", w.ID, w.DisplayName, orNone(w.Email), rolesWithSources(w))
			return nil
		}),
	}
	c.Flags().StringVar(&name, "name", "", "display name")
	c.Flags().StringVar(&email, "email", "", "e-mail address (empty to remove it)")
	c.Flags().StringSliceVar(&roles, "role", nil, "the roles an admin gives (replaces them; repeat, or separate with commas)")
	c.Flags().BoolVar(&noRoles, "no-roles", false, "remove every role an admin gave")
	return c
}

func witnessActiveCmd(active bool) *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use:   "reactivate ID",
		Short: "Let a deactivated person log in and sign again",
		Args:  cobra.ExactArgs(1),
	}
	if !active {
		c.Use, c.Short = "deactivate ID --reason TEXT", "Stop a person logging in, signing and using API tokens"
		c.Long = `deactivate stops a person at once: their sessions and API tokens stop working and
the workflow refuses their signatures (those already made stand). Every open
ceremony that lists them is told (the directory-changed signal), so its
initiator sees it and operators find it by CeremonyAttention. If Temporal cannot
be reached the deactivation still stands; run ` + "`guildhall witness tell ID`" + ` later.`
		c.Flags().StringVar(&reason, "reason", "", "why (kept on the custody chain); required")
	}
	c.RunE = withStore(func(cmd *cobra.Command, args []string, s *store.Store) error {
		sig := &lazyTemporal{identity: "guildhall-witness"}
		defer sig.Close()
		o, err := directory.Admin{Store: s, Ceremonies: sig}.SetActive(cmd.Context(), args[0], active, cliActor(), strings.TrimSpace(reason))
		if err != nil {
			return problemsError(err)
		}
		out := cmd.OutOrStdout()
		switch {
		case !o.Changed && active:
			fmt.Fprintf(out, "%s is active already\n", o.Witness.ID)
		case !o.Changed:
			fmt.Fprintf(out, "%s is deactivated already\n", o.Witness.ID)
		case active:
			fmt.Fprintf(out, "reactivated %s\n", o.Witness.ID)
		default:
			fmt.Fprintf(out, "deactivated %s\n", o.Witness.ID)
		}
		reportReach(cmd, o.Witness.ID, o.Reach)
		return nil
	})
	return c
}

func witnessTellCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "tell ID",
		Short: "Tell the open ceremonies that list a person their standing again (after Temporal was down)",
		Args:  cobra.ExactArgs(1),
		RunE: withStore(func(cmd *cobra.Command, args []string, s *store.Store) error {
			w, err := s.GetWitness(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			sig := &lazyTemporal{identity: "guildhall-witness"}
			defer sig.Close()
			reportReach(cmd, w.ID, directory.Admin{Store: s, Ceremonies: sig}.Tell(cmd.Context(), w, cliActor()))
			return nil
		}),
	}
}

// reportReach says which open ceremonies heard of a change, and which did not.
func reportReach(cmd *cobra.Command, id string, r directory.Reach) {
	out := cmd.OutOrStdout()
	if len(r.Told) > 0 {
		fmt.Fprintf(out, "told %d open ceremonies that list them: %s\n", len(r.Told), strings.Join(r.Told, ", "))
	}
	if r.NotTold != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: the change stands, but %d open ceremonies that list them were not told (%v);\n"+
			"         run `guildhall witness tell %s` once Temporal answers\n", len(r.Missed), r.NotTold, shellQuote(id))
	}
}

func witnessListCmd() *cobra.Command {
	var role, query string
	var all bool
	c := &cobra.Command{
		Use:   "list [--role ROLE] [--search WORDS] [--all]",
		Short: "List the people in the directory with their roles (and where each came from) and state",
		Args:  cobra.NoArgs,
		RunE: withStore(func(cmd *cobra.Command, _ []string, s *store.Store) error {
			ws, err := s.ListWitnesses(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tE-MAIL\tROLES\tSTATE")
			n := 0
			for _, w := range ws {
				if !all && !w.Active() || role != "" && !containsRole(w, role) || !matchesWords(w, query) {
					continue
				}
				n++
				state := "active"
				if !w.Active() {
					state = "deactivated " + w.DeactivatedAt.UTC().Format(time.DateOnly)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", w.ID, w.DisplayName, orNone(w.Email), rolesWithSources(w), state)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if n == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "nobody matches (deactivated people are listed with --all)")
			}
			return nil
		}),
	}
	c.Flags().StringVar(&role, "role", "", "only people holding this role")
	c.Flags().StringVar(&query, "search", "", "only people whose id, name, e-mail or roles hold these words")
	c.Flags().BoolVar(&all, "all", false, "include deactivated people")
	return c
}

// rolesWithSources writes "admin(cli) security(idp)": where each role came from.
func rolesWithSources(w store.Witness) string {
	parts := make([]string, len(w.Roles))
	for i, r := range w.Roles {
		parts[i] = r + "(" + w.RoleSource(r) + ")"
	}
	return joinOr(parts, "-")
}

func containsRole(w store.Witness, role string) bool {
	for _, r := range w.Roles {
		if r == role {
			return true
		}
	}
	return false
}

func matchesWords(w store.Witness, query string) bool {
	hay := strings.ToLower(strings.Join(append([]string{w.ID, w.DisplayName, w.Email}, w.Roles...), " "))
	for _, word := range strings.Fields(strings.ToLower(query)) {
		if !strings.Contains(hay, word) {
			return false
		}
	}
	return true
}

// splitRoles accepts --role a --role b and --role a,b.
func splitRoles(in []string) []string { return rules.ParseRoles(strings.Join(in, ",")) }

func joinOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return strings.Join(s, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// problemsError lists a refused change's problems one per line, each naming
// its field ("email: …").
func problemsError(err error) error {
	var ps rules.Problems
	if !errors.As(err, &ps) {
		return err
	}
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = "  " + p.String()
	}
	return fmt.Errorf("refused:\n%s", strings.Join(lines, "\n"))
}

// witnessKeyCmds manage a person's registered signing keys.
func witnessKeyCmds() []*cobra.Command {
	var label, name string
	var create bool
	add := &cobra.Command{
		Use:   "add-key <witness-id> <key-file>",
		Short: "Register a witness's ed25519 key, proving possession with its key file (recorded on the custody chain)",
		Long: `add-key registers the ed25519 key in a key file (as ` + "`guildhall keygen`" + ` writes it, or a
PKCS#8 PEM private key): it signs a one-time challenge from the Ops DB with the
private key, so only the key's holder can register it, and the proof goes on the
custody chain with the registration. A public key alone is refused; a key
another person holds is refused. --create adds the witness first if the Ops DB
does not know them (with no roles: give them with
` + "`guildhall witness set ID --role ROLE`" + `).`,
		Args: cobra.ExactArgs(2),
		RunE: withStore(func(cmd *cobra.Command, args []string, s *store.Store) error {
			id := args[0]
			if create {
				if _, err := s.GetWitness(cmd.Context(), id); errors.Is(err, store.ErrNotFound) {
					p := rules.PersonFields{ID: id, Name: name}
					if strings.Contains(id, "@") {
						p.Email = id
					}
					if _, err := (directory.Admin{Store: s}).Add(cmd.Context(), p, cliActor()); err != nil {
						return problemsError(err)
					}
				}
			}
			return addKeyWithProof(cmd.Context(), cmd.OutOrStdout(), s, id, args[1], label)
		}),
	}
	add.Flags().StringVar(&label, "label", "", "a note to tell keys apart, e.g. \"laptop\"")
	add.Flags().BoolVar(&create, "create", false, "create the witness if the Ops DB does not know them")
	add.Flags().StringVar(&name, "name", "", "display name for --create")

	keys := &cobra.Command{
		Use:   "keys <witness-id>",
		Short: "List a witness's registered keys",
		Args:  cobra.ExactArgs(1),
		RunE: withStore(func(cmd *cobra.Command, args []string, s *store.Store) error {
			ks, err := s.WitnessKeys(cmd.Context(), args[:1])
			if err != nil {
				return err
			}
			if len(ks) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s has no registered keys\n", args[0])
			}
			for _, k := range ks {
				fmt.Fprintf(cmd.OutOrStdout(), "%-10s %-40s %s  %s\n", k.Type, k.KeyID, k.AddedAt.UTC().Format(time.RFC3339), k.Label)
			}
			return nil
		}),
	}
	remove := &cobra.Command{
		Use:   "remove-key <witness-id> <key-id>",
		Short: "Unregister a key (signatures already made with it stay verifiable)",
		Args:  cobra.ExactArgs(2),
		RunE: withStore(func(cmd *cobra.Command, args []string, s *store.Store) error {
			if err := s.RemoveCredential(cmd.Context(), args[0], args[1], cliActor()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s from %s\n", args[1], args[0])
			return nil
		}),
	}
	return []*cobra.Command{add, keys, remove}
}
