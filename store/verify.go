package store

import (
	"context"
	"fmt"
	"time"

	"github.com/guildhouse/guildhall/custody"
)

// Whole-chain verification. The chain is read with one streaming query of just
// the columns verification needs, and checked in a second goroutine while the
// next rows arrive, so verifying costs little more than reading: the measured
// ratio is printed by `guildhall-bench verify`.

// linkBatch is how many links travel between the reader and the verifier at once.
const linkBatch = 1024

// ReadLinks streams every custody link in seq order to fn, a batch at a time. A
// batch is only valid during the call. It reads in a separate goroutine so fn's
// work overlaps the database's.
func (s *Store) ReadLinks(ctx context.Context, fn func([]custody.Link) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []custody.Link, 4)
	free := make(chan []custody.Link, 6)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- s.scanLinks(ctx, batches, free)
	}()
	var fnErr error
	for b := range batches {
		if fnErr == nil {
			if fnErr = fn(b); fnErr != nil {
				cancel() // stop reading; drain what is in flight
			}
		}
		select {
		case free <- b[:0]:
		default:
		}
	}
	if fnErr != nil {
		return fnErr
	}
	return <-readErr
}

func (s *Store) scanLinks(ctx context.Context, out chan<- []custody.Link, free <-chan []custody.Link) error {
	rows, err := s.DB.QueryContext(ctx, "SELECT seq, type, body, prev_hash, hash FROM custody_events ORDER BY seq")
	if err != nil {
		return fmt.Errorf("read custody chain: %w", err)
	}
	defer rows.Close()
	next := func() []custody.Link {
		select {
		case b := <-free:
			return b
		default:
			return make([]custody.Link, 0, linkBatch)
		}
	}
	batch := next()
	for rows.Next() {
		var (
			l    custody.Link
			body []byte
		)
		if err := rows.Scan(&l.Seq, &l.Type, &body, &l.PrevHash, &l.Hash); err != nil {
			return fmt.Errorf("read custody chain after seq %d: %w", lastSeq(batch), err)
		}
		l.Body = body
		batch = append(batch, l)
		if len(batch) == linkBatch {
			select {
			case out <- batch:
			case <-ctx.Done():
				return ctx.Err()
			}
			batch = next()
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read custody chain after seq %d: %w", lastSeq(batch), err)
	}
	if len(batch) > 0 {
		select {
		case out <- batch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func lastSeq(b []custody.Link) int64 {
	if len(b) == 0 {
		return -1
	}
	return b[len(b)-1].Seq
}

// Progress is a verification progress report.
type Progress struct {
	Verified int64 // links verified so far
	Seq      int64 // last verified seq
	Elapsed  time.Duration
}

// Anchor is a link whose hash is known from elsewhere (an evidence bundle's
// head, a CeremonyAttestation's chain head): verification also checks the chain
// still holds it, which catches a chain cut short or rebuilt. Seq < 0 means "at
// any seq" (an attestation records only the hash).
type Anchor struct {
	Seq  int64
	Hash string
}

// VerifyOptions tune VerifyChain.
type VerifyOptions struct {
	// Progress is called every ProgressEvery links and at least every
	// ProgressInterval while verifying; nil for none.
	Progress         func(Progress)
	ProgressEvery    int64         // default 100,000
	ProgressInterval time.Duration // default 1s
	// Anchors are checked when their seq is reached; one beyond the end of the
	// chain is a failure.
	Anchors []Anchor
}

// VerifyResult is a verified chain's summary.
type VerifyResult struct {
	Links    int64
	HeadSeq  int64
	HeadHash string
	Elapsed  time.Duration
}

// VerifyChain walks the whole chain from genesis. A broken chain is reported as
// a *custody.Break naming the first bad seq and why; an empty chain is
// custody.ErrEmpty.
func (s *Store) VerifyChain(ctx context.Context, o VerifyOptions) (VerifyResult, error) {
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 100_000
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = time.Second
	}
	anchors := map[int64]string{}
	byHash := map[string]bool{}
	for _, a := range o.Anchors {
		if a.Seq < 0 {
			byHash[a.Hash] = true
		} else {
			anchors[a.Seq] = a.Hash
		}
	}
	start := time.Now()
	lastReport, lastCount := start, int64(0)
	v := custody.NewVerifier()
	err := s.ReadLinks(ctx, func(batch []custody.Link) error {
		for _, l := range batch {
			if err := v.Next(l); err != nil {
				return err
			}
			if h, ok := anchors[l.Seq]; ok {
				if h != l.Hash {
					return &custody.Break{Seq: l.Seq, Reason: fmt.Sprintf("hash %s differs from the anchored hash %s (the chain was rewritten from here or earlier)", short(l.Hash), short(h))}
				}
				delete(anchors, l.Seq)
			}
			if len(byHash) > 0 {
				delete(byHash, l.Hash)
			}
		}
		if o.Progress != nil {
			now := time.Now()
			if v.Count-lastCount >= o.ProgressEvery || now.Sub(lastReport) >= o.ProgressInterval {
				seq, _ := v.Head()
				o.Progress(Progress{Verified: v.Count, Seq: seq, Elapsed: now.Sub(start)})
				lastReport, lastCount = now, v.Count
			}
		}
		return nil
	})
	seq, hash := v.Head()
	res := VerifyResult{Links: v.Count, HeadSeq: seq, HeadHash: hash, Elapsed: time.Since(start)}
	if err != nil {
		return res, err
	}
	if v.Count == 0 {
		if len(anchors) > 0 {
			return res, &custody.Break{Seq: 0, Reason: "the chain is empty but anchors name later links (rows deleted)"}
		}
		return res, custody.ErrEmpty
	}
	for h := range byHash {
		return res, &custody.Break{Seq: seq + 1, Reason: fmt.Sprintf("no link up to seq %d has the anchored hash %s (the chain was rewritten or cut)", seq, short(h))}
	}
	for aseq := range anchors {
		return res, &custody.Break{Seq: seq + 1, Reason: fmt.Sprintf("the chain ends at seq %d but an anchor names seq %d (rows removed from the end)", seq, aseq)}
	}
	return res, nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}
