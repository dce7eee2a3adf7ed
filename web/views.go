package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/store"
)

// meta is what every page's layout needs.
type meta struct {
	Title    string
	Viewer   *viewer
	Path     string
	DevLogin bool
	Nav      string // which nav item is current
}

func (a *App) meta(r *http.Request, title string) meta {
	m := meta{Title: title, Viewer: viewerFrom(r.Context()), Path: r.URL.Path, DevLogin: a.cfg.DevLogin}
	switch p := r.URL.Path; {
	case p == "/":
		m.Nav = "dashboard"
	case strings.HasPrefix(p, "/ceremonies"):
		m.Nav = "ceremonies"
	case strings.HasPrefix(p, "/artifacts"):
		m.Nav = "artifacts"
	case strings.HasPrefix(p, "/chronicle"):
		m.Nav = "chronicle"
	case strings.HasPrefix(p, "/posture"):
		m.Nav = "posture"
	}
	return m
}

// render writes a component with a status code. Rendering into a buffer first
// means a template error becomes a clean 500, never half a page.
func (a *App) render(w http.ResponseWriter, r *http.Request, code int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		a.log.Error("render page", "path", r.URL.Path, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("Something went wrong while drawing this page. The error was logged."))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// Small formatting helpers used by the templates.

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return fmtTime(*t)
}

// relTime says how far t is from now in words ("in 3h", "2d ago").
func relTime(now, t time.Time) string {
	d := t.Sub(now)
	suffix := ""
	prefix := "in "
	if d < 0 {
		d, prefix, suffix = -d, "", " ago"
	}
	var s string
	switch {
	case d < time.Minute:
		s = "under a minute"
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh", int(d.Hours()))
	default:
		s = fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return prefix + s + suffix
}

// collecting says whether a ceremony with this status still waits for
// signatures. Every other status (quorum reached, sealed, rejected, expired,
// cancelled) asks nothing more of its pending witnesses, and has no countdown.
func collecting(status string) bool { return contract.Status(status) == contract.StatusCollecting }

// deadlineText is a list row's deadline: a countdown while the ceremony
// collects signatures; after that, when it closed, or the plain deadline.
func deadlineText(now time.Time, c store.Ceremony) string {
	switch {
	case collecting(c.Status):
		return relTime(now, c.Deadline)
	case c.ClosedAt != nil:
		return "closed " + relTime(now, *c.ClosedAt)
	}
	return fmtTime(c.Deadline)
}

// deadlineTitle is the tooltip of a list row's deadline cell.
func deadlineTitle(c store.Ceremony) string {
	s := "deadline " + fmtTime(c.Deadline)
	if c.ClosedAt != nil {
		s += "; closed " + fmtTime(*c.ClosedAt)
	}
	return s
}

// signedNotice is the confirmation at the top of the detail page after the
// viewer's signature was recorded (?signed=1 after "Confirm and sign"). It is
// read from the ceremony's state, so it only ever says what is true.
func signedNotice(sig *contract.Signature) string {
	if sig == nil {
		return ""
	}
	return "Your signature (" + string(sig.Decision) + ") was recorded at " + fmtTime(sig.SignedAt) + "."
}

func statusLabel(s string) string {
	switch contract.Status(s) {
	case contract.StatusCollecting:
		return "collecting"
	case contract.StatusQuorumReached:
		return "quorum reached"
	}
	return s
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19] + "…"
	}
	return d
}

func ceremonyURL(id string) templ.SafeURL { return templ.SafeURL("/ceremonies/" + id) }

func itoa(n int) string { return fmt.Sprint(n) }

func renderToString(ctx context.Context, c templ.Component) (string, error) {
	var b strings.Builder
	err := c.Render(ctx, &b)
	return b.String(), err
}

// plural says "1 ceremony" or "3 ceremonies".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return itoa(n) + " " + many
}
