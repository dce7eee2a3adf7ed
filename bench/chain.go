package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/store"
)

// ChainResult compares verifying the custody chain with a plain read of the same
// rows (store.ReadLinks, the stream store.VerifyChain checks).
type ChainResult struct {
	Dialect string
	Rounds  int
	Links   int64
	Read    time.Duration // fastest of the rounds
	Verify  time.Duration // fastest of the rounds
	// Ratios are verify/read per round, each round timing the two back to back
	// so a busy machine affects both alike.
	Ratios []float64
}

// Ratio is the median of the per-round verify/read ratios: robust against a
// round disturbed by other work on the machine.
func (b ChainResult) Ratio() float64 {
	if len(b.Ratios) == 0 {
		return 0
	}
	r := slices.Clone(b.Ratios)
	slices.Sort(r)
	if len(r)%2 == 1 {
		return r[len(r)/2]
	}
	return (r[len(r)/2-1] + r[len(r)/2]) / 2
}

// RunChain reads and verifies the chain rounds times, alternating which goes
// first, and keeps every round's ratio.
func RunChain(ctx context.Context, s *store.Store, rounds int) (ChainResult, error) {
	if rounds <= 0 {
		rounds = 3
	}
	b := ChainResult{Dialect: s.Dialect, Rounds: rounds}
	for i := range rounds {
		var read, verify time.Duration
		for j := range 2 {
			if (i+j)%2 == 0 {
				start := time.Now()
				var n int64
				if err := s.ReadLinks(ctx, func(l []custody.Link) error { n += int64(len(l)); return nil }); err != nil {
					return b, err
				}
				read, b.Links = time.Since(start), n
			} else {
				v, err := s.VerifyChain(ctx, store.VerifyOptions{})
				if err != nil && !errors.Is(err, custody.ErrEmpty) {
					return b, err
				}
				verify = v.Elapsed
			}
		}
		if i == 0 || read < b.Read {
			b.Read = read
		}
		if i == 0 || verify < b.Verify {
			b.Verify = verify
		}
		if read > 0 {
			b.Ratios = append(b.Ratios, float64(verify)/float64(read))
		}
	}
	return b, nil
}

// WriteText prints the result as a table.
func (b ChainResult) WriteText(w io.Writer) {
	fmt.Fprintf(w, "custody chain on %s, %d rounds (times: fastest; ratio: median of the rounds)\n", b.Dialect, b.Rounds)
	fmt.Fprintf(w, "%-10s %12s %12s %12s %8s\n", "links", "read", "verify", "links/s", "ratio")
	rate := 0.0
	if b.Verify > 0 {
		rate = float64(b.Links) / b.Verify.Seconds()
	}
	fmt.Fprintf(w, "%-10d %12v %12v %12.0f %8.2f\n", b.Links, b.Read.Round(time.Millisecond), b.Verify.Round(time.Millisecond), rate, b.Ratio())
	fmt.Fprintln(w, "read = SELECT seq, type, body, prev_hash, hash of every row, streamed; verify = the same read plus every check (goal: ratio <= 1.5)")
}
