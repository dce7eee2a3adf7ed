package web

import (
	"context"
	"maps"
	"sync"
	"time"
)

// countsTTL bounds how stale the dashboard's per-status counts can be. Counting
// is a scan of every ceremony, so it is done at most this often (and again
// at once after a change this process sees); the page's live stream refreshes
// the numbers when ceremonies change.
const countsTTL = 3 * time.Second

type countCache struct {
	mu     sync.Mutex
	at     time.Time
	counts map[string]int
}

func (a *App) countByStatus(ctx context.Context) (map[string]int, error) {
	a.counts.mu.Lock()
	defer a.counts.mu.Unlock() // concurrent callers wait for one count instead of all counting
	if a.counts.counts != nil && time.Since(a.counts.at) < countsTTL {
		return maps.Clone(a.counts.counts), nil
	}
	c, err := a.store.CountByStatus(ctx)
	if err != nil {
		return nil, err
	}
	a.counts.counts, a.counts.at = c, time.Now()
	return maps.Clone(c), nil
}

// invalidateCounts makes the next dashboard count afresh.
func (a *App) invalidateCounts() {
	a.counts.mu.Lock()
	a.counts.counts = nil
	a.counts.mu.Unlock()
}
