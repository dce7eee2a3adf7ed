package web

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
)

// Rate limits, in-process per replica (so N replicas allow N times as much):
// login attempts per client IP, and per person (the logged-in witness or token
// holder) the actions that cost something: signing, opening a ceremony (which
// starts a workflow and notifies its witnesses), minting API tokens and key
// challenges, and API reads that query a workflow. A refusal is 429 with
// Retry-After, as a page or a problem document. Opening a ceremony counts only
// when the ceremony opened (successLimiter). README.md and web/README.md list
// the numbers.
var (
	loginLimit     = limit{n: 30, per: time.Minute, what: "login attempts from your address"}
	signLimit      = limit{n: 30, per: time.Minute, what: "signing requests"}
	openLimit      = limit{n: 10, per: time.Hour, what: "ceremonies opened"}
	tokenLimit     = limit{n: 5, per: time.Hour, what: "API tokens created"}
	challengeLimit = limit{n: 10, per: time.Hour, what: "key challenges asked for"}
	readLimit      = limit{n: 60, per: time.Minute, what: "API reads of a ceremony's live state"}
)

// limit is one rate limit: n requests per window, described for the refusal.
type limit struct {
	n    int
	per  time.Duration
	what string
}

func (l limit) String() string {
	return fmt.Sprintf("%d %s per %s", l.n, l.what, window(l.per))
}

func window(d time.Duration) string {
	switch d {
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	}
	return d.String()
}

// clientIP resolves the client address: RemoteAddr, or X-Forwarded-For from the
// configured trusted proxies (the load balancer).
func (a *App) clientIP() func(http.Handler) http.Handler {
	if len(a.cfg.TrustedProxies) > 0 {
		return middleware.ClientIPFromXFF(a.cfg.TrustedProxies...)
	}
	return middleware.ClientIPFromRemoteAddr
}

func keyByClientIP(r *http.Request) (string, error) {
	return "ip:" + httprate.CanonicalizeIP(middleware.GetClientIP(r.Context())), nil
}

// keyByActor keys on the logged-in witness (or token holder), else the IP.
func keyByActor(r *http.Request) (string, error) {
	if v := viewerFrom(r.Context()); v != nil {
		return "w:" + v.ID, nil
	}
	return keyByClientIP(r)
}

// limiter is the middleware of l, keyed by key.
func (a *App) limiter(l limit, key httprate.KeyFunc) func(http.Handler) http.Handler {
	return a.newLimiter(l, key).Handler
}

func (a *App) newLimiter(l limit, key httprate.KeyFunc) *httprate.RateLimiter {
	return httprate.NewRateLimiter(l.n, l.per, httprate.WithKeyFuncs(key), httprate.WithLimitHandler(a.limited(l)))
}

// limited answers a request over l: 429, Retry-After (set by httprate), and
// what the limit is.
func (a *App) limited(l limit) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who, _ := keyByActor(r)
		a.log.Warn("rate limit reached", "path", r.URL.Path, "limit", l.String(), "who", who, "ip", middleware.GetClientIP(r.Context()))
		msg := "The limit is " + l.String() + ". Try again " + retryWords(w.Header().Get("Retry-After")) + "."
		if wantsJSON(r) {
			problem(w, http.StatusTooManyRequests, "too many requests", msg)
			return
		}
		a.errorPage(w, r, http.StatusTooManyRequests, "Too many requests", msg)
	}
}

// retryWords says a Retry-After in words.
func retryWords(after string) string {
	s, err := strconv.Atoi(after)
	switch {
	case err != nil || s <= 0:
		return "later"
	case s < 120:
		return fmt.Sprintf("in %d seconds", s)
	}
	return fmt.Sprintf("in %d minutes", (s+59)/60)
}

func (a *App) loginLimiter() func(http.Handler) http.Handler {
	return a.limiter(loginLimit, keyByClientIP)
}

// successLimiter is a limit that counts only the requests whose action
// succeeded, for an action that can fail after the limit is checked (opening a
// ceremony: Temporal unreachable, the name taken), so failures do not spend the
// person's budget. hold checks the budget without spending it; settle spends
// it when the action succeeded.
//
// Requests let through and not yet settled are held against the budget, so
// concurrent requests cannot exceed the limit at all: while others hold the
// last units a request is refused, even if those later fail and give them
// back. Under mu, counted (httprate's rounded rate) + held never passes n:
// only this type writes to rl, a unit is counted only when a held one is let
// go, and the rate otherwise only falls with time. So counting a held unit
// needs no second check.
type successLimiter struct {
	l      limit
	rl     *httprate.RateLimiter // counts the successes
	key    httprate.KeyFunc
	refuse http.HandlerFunc // the 429, as limited(l)

	mu   sync.Mutex
	held map[string]int // per key, requests let through and not yet settled
}

func (a *App) newSuccessLimiter(l limit, key httprate.KeyFunc) *successLimiter {
	return &successLimiter{l: l, rl: httprate.NewRateLimiter(l.n, l.per), key: key, refuse: a.limited(l), held: map[string]int{}}
}

// hold lets r through if its person has room for one more success beyond
// those counted and those held, else answers 429 and returns ok false. The
// caller calls settle once the action is done, with whether it succeeded;
// calls after the first do nothing, so a deferred settle(true) covers a panic
// (counted: whether the action happened is not known).
func (s *successLimiter) hold(w http.ResponseWriter, r *http.Request) (settle func(succeeded bool), ok bool) {
	key, _ := s.key(r) // keyByActor and keyByClientIP never fail
	s.mu.Lock()
	_, rate, _ := s.rl.Status(key) // the local counter never fails
	if int(math.Round(rate))+s.held[key]+1 > s.l.n {
		s.mu.Unlock()
		// As httprate answers: the whole window (RFC 6585).
		w.Header().Set("Retry-After", strconv.Itoa(int(s.l.per.Seconds())))
		s.refuse(w, r)
		return nil, false
	}
	s.held[key]++
	s.mu.Unlock()
	done := false
	return func(succeeded bool) {
		if done {
			return
		}
		done = true
		s.settle(r, key, succeeded)
	}, true
}

func (s *successLimiter) settle(r *http.Request, key string, succeeded bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[key]--; s.held[key] <= 0 {
		delete(s.held, key)
	}
	if !succeeded {
		return
	}
	// OnLimit is httprate's only way to count into its current window (its
	// alignment is private). The unit was checked when held, so httprate's
	// check is lifted for this call, and its headers go nowhere.
	ctx := httprate.WithRequestLimit(r.Context(), math.MaxInt)
	s.rl.OnLimit(discardHeaders{}, r.WithContext(ctx), key)
}

// discardHeaders is a ResponseWriter whose writes go nowhere.
type discardHeaders struct{}

func (discardHeaders) Header() http.Header         { return http.Header{} }
func (discardHeaders) Write(b []byte) (int, error) { return len(b), nil }
func (discardHeaders) WriteHeader(int)             {}
