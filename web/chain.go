package web

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/guildhouse/guildhall/custody"
)

// chainStatus is what the dashboard says about the custody chain.
type chainStatus struct {
	Checked    bool // at least one verification pass ran
	VerifiedTo int64
	HeadHash   string
	Broken     string // plain description when the chain does not verify
	CheckedAt  time.Time
	Error      string // verification could not run
}

// chainWatch verifies the custody chain incrementally in the background: each
// pass checks only links appended since the last one, so the dashboard shows a
// current answer without re-reading the whole chain per request.
type chainWatch struct {
	once   sync.Once
	kick   chan struct{} // asks the loop for a pass now
	mu     sync.Mutex
	v      *custody.Verifier
	status chainStatus
}

const chainCheckEvery = 5 * time.Second

func (a *App) chainStatus(ctx context.Context) chainStatus {
	a.chain.once.Do(func() {
		a.chain.v = custody.NewVerifier()
		a.chain.kick = make(chan struct{}, 1)
		done := make(chan struct{})
		go a.chainLoop(done)
		// The first pass runs before the first dashboard is drawn, but no longer
		// than a moment; a long chain finishes in the background.
		select {
		case <-done:
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
		}
	})
	// Ask for a fresh pass (without waiting for it), so the next view is current.
	select {
	case a.chain.kick <- struct{}{}:
	default:
	}
	a.chain.mu.Lock()
	defer a.chain.mu.Unlock()
	return a.chain.status
}

func (a *App) chainLoop(firstDone chan struct{}) {
	t := time.NewTicker(chainCheckEvery)
	defer t.Stop()
	for {
		a.chainPass()
		if firstDone != nil {
			close(firstDone)
			firstDone = nil
		}
		select {
		case <-a.closing:
			return
		case <-t.C:
		case <-a.chain.kick:
		}
	}
}

func (a *App) chainPass() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a.chain.mu.Lock()
	broken := a.chain.status.Broken != ""
	a.chain.mu.Unlock()
	if broken {
		return // a broken chain stays reported until restart and investigation
	}
	for {
		seq, _ := a.chain.v.Head()
		page, err := a.store.CustodyAfter(ctx, seq, 2000)
		if err != nil {
			a.setChain(func(s *chainStatus) { s.Error = "could not read the chain: " + plainError(err) })
			return
		}
		for _, e := range page {
			if err := a.chain.v.Next(e.Link()); err != nil {
				var b *custody.Break
				msg := err.Error()
				if errors.As(err, &b) {
					msg = b.Error()
				}
				a.log.Error("custody chain does not verify", "err", err)
				a.setChain(func(s *chainStatus) { s.Broken, s.Checked, s.CheckedAt = msg, true, time.Now() })
				return
			}
		}
		if len(page) < 2000 {
			break
		}
	}
	seq, hash := a.chain.v.Head()
	a.setChain(func(s *chainStatus) {
		s.Checked, s.VerifiedTo, s.HeadHash, s.CheckedAt, s.Error = true, seq, hash, time.Now(), ""
	})
}

func (a *App) setChain(f func(*chainStatus)) {
	a.chain.mu.Lock()
	defer a.chain.mu.Unlock()
	f(&a.chain.status)
}
