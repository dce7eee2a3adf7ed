package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
)

// Rate limits (in-process, per replica): login attempts per client IP, and
// signing per witness, so a stolen session or token cannot flood the workflow.
const (
	loginLimit  = 30
	signLimit   = 30
	limitWindow = time.Minute
)

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

func (a *App) limited(w http.ResponseWriter, r *http.Request) {
	a.log.Warn("rate limit reached", "path", r.URL.Path, "ip", middleware.GetClientIP(r.Context()))
	if strings.HasPrefix(r.URL.Path, "/api/") || strings.Contains(r.Header.Get("Accept"), "application/json") {
		problem(w, http.StatusTooManyRequests, "too many requests", "Slow down and try again in a minute.")
		return
	}
	a.errorPage(w, r, http.StatusTooManyRequests, "Too many attempts", "Wait a minute and try again.")
}

func (a *App) loginLimiter() func(http.Handler) http.Handler {
	return httprate.LimitBy(loginLimit, limitWindow, keyByClientIP, httprate.WithLimitHandler(a.limited))
}

func (a *App) signLimiter() func(http.Handler) http.Handler {
	return httprate.LimitBy(signLimit, limitWindow, keyByActor, httprate.WithLimitHandler(a.limited))
}
