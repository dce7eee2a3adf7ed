package web

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/guildhouse/guildhall/store"
)

// Live updates. The hub wakes Server-Sent Events streams when a ceremony changes.
// Changes come from two places: this process (a signature or opening sent from
// here is announced at once) and a poller over the Ops DB's ceremonies.updated_at,
// which sees what other replicas, the watcher and the worker did. Each
// subscriber's channel holds one pending wake-up, so bursts coalesce into one
// refresh instead of queueing.

type hub struct {
	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	polling bool
	seen    map[string]time.Time // ceremony id -> last updated_at seen
}

type subscriber struct {
	ceremony string // "" = every ceremony
	ch       chan struct{}
}

// Changes the poller may still see late: activities stamp updated_at with the
// workflow's event time, which can trail the moment the row is written.
const (
	pollEvery   = time.Second
	pollOverlap = 2 * time.Minute
	heartbeat   = 20 * time.Second
)

// streamMaxAge ends a stream after a while; the browser reconnects after the
// retry delay and refreshes once (the "hello" after a reconnect). Pages close
// their stream when they are hidden (app.js, pagehide), but a client that never
// does — an old tab, a frozen page, a proxy holding the socket — would hold a
// connection (and, on HTTP/1.1, one of the browser's six per host) forever;
// this bounds how long. Jitter spreads the reconnects of pages opened together.
// (App.streamMaxAge; tests shorten it.)
const streamMaxAge = 5 * time.Minute

// LiveStreams is how many Server-Sent Events streams are open right now (tests;
// operators see guildhall_web_live_streams).
func (a *App) LiveStreams() int {
	a.hub.mu.Lock()
	defer a.hub.mu.Unlock()
	return len(a.hub.subs)
}

func (a *App) subscribe(ceremony string) (*subscriber, func()) {
	s := &subscriber{ceremony: ceremony, ch: make(chan struct{}, 1)}
	a.hub.mu.Lock()
	if a.hub.subs == nil {
		a.hub.subs = map[*subscriber]struct{}{}
	}
	a.hub.subs[s] = struct{}{}
	a.metrics.liveStreams.Inc()
	if !a.hub.polling {
		a.hub.polling = true
		go a.pollChanges()
	}
	a.hub.mu.Unlock()
	return s, func() {
		a.hub.mu.Lock()
		if _, ok := a.hub.subs[s]; ok {
			delete(a.hub.subs, s)
			a.metrics.liveStreams.Dec()
		}
		a.hub.mu.Unlock()
	}
}

// notifyChanged wakes the streams of this ceremony and the list streams.
func (a *App) notifyChanged(id string) {
	a.invalidateCounts()
	a.hub.mu.Lock()
	defer a.hub.mu.Unlock()
	for s := range a.hub.subs {
		if s.ceremony == "" || s.ceremony == id {
			select {
			case s.ch <- struct{}{}:
			default: // a wake-up is already pending
			}
		}
	}
}

// pollChanges runs while anyone is subscribed.
func (a *App) pollChanges() {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	first := true
	for {
		a.hub.mu.Lock()
		if len(a.hub.subs) == 0 {
			a.hub.polling = false
			a.hub.seen = nil
			a.hub.mu.Unlock()
			return
		}
		a.hub.mu.Unlock()
		a.pollOnce(first)
		first = false
		select {
		case <-a.closing:
			a.hub.mu.Lock()
			a.hub.polling = false
			a.hub.mu.Unlock()
			return
		case <-t.C:
		}
	}
}

func (a *App) pollOnce(seedOnly bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	changes, err := a.changes.CeremoniesChangedSince(ctx, a.cfg.Now().Add(-pollOverlap), 1000)
	if err != nil {
		a.log.Warn("live updates: poll the Ops DB", "err", err)
		return
	}
	var changed []string
	a.hub.mu.Lock()
	if a.hub.seen == nil {
		a.hub.seen = map[string]time.Time{}
	}
	cutoff := a.cfg.Now().Add(-2 * pollOverlap)
	for id, at := range a.hub.seen {
		if at.Before(cutoff) {
			delete(a.hub.seen, id)
		}
	}
	for _, c := range changes {
		if prev, ok := a.hub.seen[c.ID]; ok && !c.UpdatedAt.After(prev) {
			continue
		}
		a.hub.seen[c.ID] = c.UpdatedAt
		changed = append(changed, c.ID)
	}
	a.hub.mu.Unlock()
	if seedOnly {
		return
	}
	for _, id := range changed {
		a.notifyChanged(id)
	}
}

// changeSource is the poller's query; *store.Store satisfies it.
type changeSource interface {
	CeremoniesChangedSince(ctx context.Context, since time.Time, limit int) ([]store.CeremonyChange, error)
}

// stream serves one SSE stream. It clears the server's write deadline (streams
// are long-lived by design), sends a heartbeat so proxies keep it open, and ends
// on client disconnect or App.Shutdown so graceful shutdown is not held up.
func (a *App) stream(w http.ResponseWriter, r *http.Request, ceremony string) {
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		a.log.Debug("live stream: cannot clear write deadline", "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	if r.Method == http.MethodHead {
		// The headers say what the stream would be; a HEAD gets no stream.
		w.WriteHeader(http.StatusOK)
		return
	}
	sub, cancel := a.subscribe(ceremony)
	defer cancel()
	w.WriteHeader(http.StatusOK)
	// retry: how soon the browser reconnects; hello: lets the page know it is live
	// (and refresh after a reconnect, in case it missed a change).
	if _, err := fmt.Fprint(w, "retry: 2000\nevent: hello\ndata: {}\n\n"); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	maxAge := time.NewTimer(a.streamMaxAge - time.Duration(rand.Int64N(int64(a.streamMaxAge/5)+1)))
	defer maxAge.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-maxAge.C:
			return
		case <-a.closing:
			return
		case <-sub.ch:
			_, err = fmt.Fprint(w, "event: change\ndata: {}\n\n")
		case <-beat.C:
			_, err = fmt.Fprint(w, ": keep-alive\n\n")
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

func (a *App) listEvents(w http.ResponseWriter, r *http.Request) { a.stream(w, r, "") }

func (a *App) ceremonyEvents(w http.ResponseWriter, r *http.Request) {
	id, ok := ceremonyID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	a.stream(w, r, id)
}
