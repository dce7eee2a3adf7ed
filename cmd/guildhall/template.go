package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
)

// Approval templates from the command line: the same YAML (or JSON) the admin
// page edits, checked by rules.ValidateTemplate, versioned in the Ops DB.

func newTemplateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "template apply|get",
		Short: "Keep the approval templates: who witnesses which kind of ceremony, the quorum, who may open",
	}
	cmd.AddCommand(templateApplyCmd(), templateGetCmd())
	return cmd
}

func templateApplyCmd() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Save a template (YAML or JSON) as its name's next version, unless it is the same as the latest",
		Long: `apply reads a template from FILE ("-" for stdin), checks it, and saves it as the
next version of its name; applying the same template again changes nothing.
Each version is a custody event. Ceremonies opened afterwards use it; open ones
keep the version they were opened with. ` + "`guildhall template get NAME`" + ` prints one to
start from; the fields:

  name: release                # lowercase letters, digits and dashes
  description: Release an artifact to production.
  kind: release                # release, key-rotation or ratification
  witnesses:
    roles: [security, release] # everyone active with one of these roles when a ceremony opens
    people:                    # and these people
      - {id: alice@example.org, role: security}
  quorum:
    threshold: 2               # approvals needed overall
    roles: {security: 1}       # at least this many from each role
    veto: [security]           # one reject from these roles ends the ceremony
    minAssurance: key          # the weakest signature accepted: operator, token, session, key
  deadline: 3d                 # how long a ceremony stays open (72h, 7d)
  openedBy: [release]          # roles or people who may open one (admins always may)`,
		Args: cobra.NoArgs,
		RunE: withStore(func(cmd *cobra.Command, _ []string, s *store.Store) error {
			if file == "" {
				return errors.New("give the template file with -f FILE (or -f - for stdin)")
			}
			data, err := readInput(cmd, file)
			if err != nil {
				return err
			}
			t, err := rules.ParseTemplate(data)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if ps := rules.ValidateTemplate(t); len(ps) > 0 {
				return fmt.Errorf("%s: %w", file, problemsError(ps))
			}
			version, added, err := s.ApplyTemplate(cmd.Context(), t, cliActor())
			if err != nil {
				return err
			}
			if added {
				fmt.Fprintf(cmd.OutOrStdout(), "applied %s v%d\n", t.Name, version)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%s v%d unchanged\n", t.Name, version)
			}
			return nil
		}),
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the template file, YAML or JSON (- for stdin)")
	return c
}

func templateGetCmd() *cobra.Command {
	var version int
	c := &cobra.Command{
		Use:   "get [NAME] [--version N]",
		Short: "Print a template as YAML (its latest version, or --version N); without NAME, list them",
		Args:  cobra.MaximumNArgs(1),
		RunE: withStore(func(cmd *cobra.Command, args []string, s *store.Store) error {
			out := cmd.OutOrStdout()
			if len(args) == 0 {
				rows, err := s.ListTemplates(cmd.Context())
				if err != nil {
					return err
				}
				if len(rows) == 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "no templates yet: write one and `guildhall template apply -f FILE`")
					return nil
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tVERSION\tKIND\tSAVED\tBY")
				for _, r := range rows {
					t, _ := r.Template()
					fmt.Fprintf(tw, "%s\tv%d\t%s\t%s\t%s\n", r.Name, r.Version, t.Kind, r.CreatedAt.UTC().Format(time.RFC3339), r.CreatedBy)
				}
				return tw.Flush()
			}
			r, err := s.GetTemplate(cmd.Context(), args[0], version)
			if err != nil {
				return err
			}
			t, err := r.Template()
			if err != nil {
				return err
			}
			y, err := rules.TemplateYAML(t)
			if err != nil {
				return err
			}
			// Comments: the output applies as it is.
			fmt.Fprintf(out, "# %s v%d, saved %s by %s\n%s", r.Name, r.Version, r.CreatedAt.UTC().Format(time.RFC3339), r.CreatedBy, strings.TrimLeft(string(y), "\n"))
			return nil
		}),
	}
	c.Flags().IntVar(&version, "version", 0, "a version (default: the latest)")
	return c
}
