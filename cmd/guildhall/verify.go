package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/store"
)

func newVerifyCmd() *cobra.Command {
	var (
		every   int64
		quiet   bool
		anchors []string
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify the whole custody chain in the Ops DB; exit 1 naming the first bad link",
		Long: `verify reads every custody event from genesis in order and checks that each one
is stored in canonical form, that its hash is the SHA-256 of its bytes, and that it
names the previous event's hash. It stops at the first bad link and says which seq
and why (edited payload, deleted, swapped or forged row, edited hash), exiting 1.

Progress goes to stderr every --progress-every links or every second. --anchor
SEQ:HASH (from an evidence bundle's head or a CeremonyAttestation) also checks the
chain still holds that link, which catches a chain cut short and rebuilt.
(` + "`guildhall-bench verify`" + ` times verification against a plain read of the rows.)`,
		Args: cobra.NoArgs,
		RunE: withStore(func(cmd *cobra.Command, _ []string, s *store.Store) error {
			var as []store.Anchor
			for _, a := range anchors {
				an, err := parseAnchor(a)
				if err != nil {
					return err
				}
				as = append(as, an)
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			o := store.VerifyOptions{ProgressEvery: every, Anchors: as}
			if !quiet {
				o.Progress = func(p store.Progress) {
					fmt.Fprintf(errOut, "verify: %d links checked (up to seq %d), %.0f links/s\n",
						p.Verified, p.Seq, float64(p.Verified)/p.Elapsed.Seconds())
				}
			}
			res, err := s.VerifyChain(cmd.Context(), o)
			var brk *custody.Break
			switch {
			case errors.Is(err, custody.ErrEmpty):
				fmt.Fprintln(out, "custody chain is empty: nothing to verify yet")
				return nil
			case errors.As(err, &brk):
				fmt.Fprintf(errOut, "custody chain BROKEN at seq %d: %s\n", brk.Seq, brk.Reason)
				if res.Links > 0 {
					fmt.Fprintf(errOut, "(links 0..%d verified before it)\n", res.HeadSeq)
				}
				return errReported
			case err != nil:
				return err
			}
			fmt.Fprintf(out, "custody chain verified: %d links, seq 0..%d, in %v\nhead: %d:%s\n",
				res.Links, res.HeadSeq, res.Elapsed.Round(time.Millisecond), res.HeadSeq, res.HeadHash)
			return nil
		}),
	}
	f := cmd.Flags()
	f.Int64Var(&every, "progress-every", 100_000, "report progress every N links (and at least every second)")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress output")
	f.StringArrayVar(&anchors, "anchor", nil, "SEQ:HASH (or HASH) of a link the chain must still hold (repeatable)")
	return cmd
}

// parseAnchor reads SEQ:HASH, or a bare HASH (any seq), as a CeremonyAttestation
// records it.
func parseAnchor(s string) (store.Anchor, error) {
	seq, hash, ok := strings.Cut(s, ":")
	if !ok {
		seq, hash = "-1", s
	}
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil || (ok && n < 0) || len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
		return store.Anchor{}, fmt.Errorf("--anchor %q is not SEQ:HASH or HASH (64 lowercase hex digits)", s)
	}
	return store.Anchor{Seq: n, Hash: hash}, nil
}
