package web

import (
	"net/http"
	"net/url"
	"runtime/debug"
)

// recoverer turns a panic into a plain error page; the stack goes to the log only.
func (a *App) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.log.Error("panic serving request", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				a.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "The error was logged. Try again, and tell an operator if it keeps happening.")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// csp allows only our own embedded assets: no inline script or style anywhere.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func (a *App) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if a.secure {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// crossOrigin refuses cross-site state-changing browser requests (CSRF) with Go's
// CrossOriginProtection, which reads Sec-Fetch-Site / Origin. The public base URL
// is trusted explicitly for deployments where a proxy rewrites Host.
func (a *App) crossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	if u, err := url.Parse(a.cfg.BaseURL); err == nil {
		_ = cop.AddTrustedOrigin(u.Scheme + "://" + u.Host)
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.log.Warn("cross-origin request refused", "path", r.URL.Path, "origin", r.Header.Get("Origin"),
			"sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		if wantsJSON(r) {
			problem(w, http.StatusForbidden, "cross-origin request refused", "Requests from other sites may not change anything here.")
			return
		}
		a.errorPage(w, r, http.StatusForbidden, "Request refused", "This request came from another site, so it was refused to protect your account.")
	}))
	return cop.Handler(next)
}

// limitBody caps request bodies so a client cannot make the server read without end.
func (a *App) limitBody(n int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				if wantsJSON(r) {
					problem(w, http.StatusRequestEntityTooLarge, "request too large", "The request body is larger than this endpoint accepts.")
					return
				}
				a.errorPage(w, r, http.StatusRequestEntityTooLarge, "Request too large", "The form was larger than allowed.")
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, n)
			next.ServeHTTP(w, r)
		})
	}
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
