package web

import (
	"context"
	"net/http"
	"time"
)

// health is the shallow probe: 200 "ok" when the app is up and the Ops DB answers
// SELECT 1, 503 "degraded: <reason>" otherwise. It is unauthenticated and never
// touches Temporal, so a Temporal outage does not get web pods restarted.
func (a *App) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := a.store.Ping(ctx); err != nil {
		a.log.Warn("health check: database unavailable", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("degraded: database unavailable: " + plainError(err)))
		return
	}
	_, _ = w.Write([]byte("ok"))
}
