package web

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
)

// Rate limits, in-process per replica (so N replicas allow N times as much):
// login attempts per client IP, and per person (the logged-in witness or token
// holder) the actions that cost something: signing, opening a ceremony (which
// starts a workflow and notifies its witnesses), minting API tokens and key
// challenges, and API reads that query a workflow. A refusal is 429 with
// Retry-After, as a page or a problem document. README.md and web/README.md
// list the numbers.
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
