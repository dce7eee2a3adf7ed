package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/guildhouse/guildhall/evidence"
	"github.com/guildhouse/guildhall/store"
)

func newEvidenceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "evidence export|verify",
		Short: "Export a ceremony's evidence bundle, or verify one offline",
	}
	var (
		out    string
		toHead bool
	)
	export := &cobra.Command{
		Use:   "export <ceremony-id>",
		Short: "Write one ceremony's evidence bundle (spec, statements, keys, custody segment, outcome)",
		Long: `export writes one JSON file holding everything needed to check a ceremony later
without Guildhall's database: the spec and policy, every signed statement with its
signature and public key, the ceremony's custody events inside the chain segment
that links them to a chain head (the ceremony's last event; --to-head: the current
head), and the outcome. It refuses to export from a broken chain. Check the file with ` + "`guildhall evidence verify`" + `.`,
		Args: cobra.ExactArgs(1),
		RunE: withStore(func(cmd *cobra.Command, args []string, s *store.Store) error {
			data, err := evidence.ExportBytes(cmd.Context(), s, args[0], evidence.Options{ToHead: toHead})
			if err != nil {
				return err
			}
			if out == "-" {
				_, err := cmd.OutOrStdout().Write(data)
				return err
			}
			if out == "" {
				out = evidence.Filename(args[0])
			}
			if err := os.WriteFile(out, data, 0o644); err != nil {
				return fmt.Errorf("write evidence bundle: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes)\n", out, len(data))
			return nil
		}),
	}
	export.Flags().StringVarP(&out, "output", "o", "", "file to write, - for stdout (default evidence-<ceremony>.json)")
	export.Flags().BoolVar(&toHead, "to-head", false, "extend the chain segment to the current chain head (default: the ceremony's last event)")

	var anchors []string
	verify := &cobra.Command{
		Use:   "verify <file|->",
		Short: "Check an evidence bundle offline (no database, no network); exit 1 naming what failed",
		Long: `verify checks a bundle with nothing but its bytes: the custody segment's hashes
and links, that every section agrees with the events in it, and every signature
against its statement and public key. --anchor SEQ:HASH or HASH (the chain head a
CeremonyAttestation cites) also requires that link to be in the segment.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var points []evidence.Point
			for _, a := range anchors {
				an, err := parseAnchor(a)
				if err != nil {
					return err
				}
				points = append(points, evidence.Point{Seq: an.Seq, Hash: an.Hash})
			}
			data, err := readInput(cmd, args[0])
			if err != nil {
				return err
			}
			r, err := evidence.Verify(data, points...)
			var failed *evidence.Failed
			if errors.As(err, &failed) {
				fmt.Fprintf(cmd.ErrOrStderr(), "evidence bundle %s FAILED verification:\n", args[0])
				for _, p := range failed.Problems {
					fmt.Fprintf(cmd.ErrOrStderr(), "  %s\n", p)
				}
				return errReported
			}
			if err != nil {
				return err
			}
			printReport(cmd.OutOrStdout(), r)
			return nil
		},
	}
	verify.Flags().StringArrayVar(&anchors, "anchor", nil, "SEQ:HASH or HASH of a link the segment must contain (repeatable)")
	cmd.AddCommand(export, verify)
	return cmd
}

func readInput(cmd *cobra.Command, name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(cmd.InOrStdin())
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return data, nil
}

func printReport(w io.Writer, r *evidence.Report) {
	status := r.Status
	if r.Reason != "" {
		status += " (" + r.Reason + ")"
	}
	if r.CloseAssurance != "" {
		status += ", cancel by " + r.ClosedBy + " with assurance " + r.CloseAssurance
	}
	fmt.Fprintf(w, "evidence bundle OK: ceremony %s, %s\n", r.CeremonyID, status)
	fmt.Fprintf(w, "policy: %s\n", r.Policy)
	if t := r.Template; t != nil {
		fmt.Fprintf(w, "template: %s, version %d\n", t.Name, t.Version)
	}
	fmt.Fprintf(w, "custody: %d links verified after anchor %d:%s, up to head %d:%s\n",
		r.Links, r.Anchor.Seq, r.Anchor.Hash, r.Head.Seq, r.Head.Hash)
	fmt.Fprintln(w, "signatures:")
	for _, s := range r.Signatures {
		mark := "assurance " + s.Assurance
		if s.KeyID != "" {
			mark += ", signed with " + s.KeyID
		}
		if s.Voided {
			mark += ", VOIDED by a later amendment"
		}
		fmt.Fprintf(w, "  %s %s (%s)\n", s.WitnessID, s.Decision, mark)
		if s.KeyID != "" {
			fmt.Fprintf(w, "    %s\n", s.Words)
		}
	}
	if len(r.Graph) > 0 {
		fmt.Fprintln(w, "Graph bridge (Intune), as recorded on the chain:")
		for _, g := range r.Graph {
			line := fmt.Sprintf("  #%d %s %s %s: %d change(s), %d Graph call(s)", g.Seq, g.OccurredAt, g.Type, g.Decision, g.Changes, g.Calls)
			if g.Error != "" {
				line += "; " + g.Error
			}
			fmt.Fprintln(w, line)
		}
	}
	fmt.Fprintf(w, "exported %s. The bundle is consistent by itself; to tie it to the live chain run\n  guildhall verify --anchor %d:%s\n",
		r.ExportedAt, r.Head.Seq, r.Head.Hash)
}
