package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
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
	case strings.HasPrefix(p, "/admin"):
		m.Nav = "admin"
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

// shortDigest keeps a digest's head and tail, so artifacts with the same name
// still tell apart: "sha256:4f53cda18c2b…b945".
func shortDigest(d string) string {
	if len(d) > 28 {
		return d[:19] + "…" + d[len(d)-4:]
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

// people maps witness ids to display names: pages name people the way the
// header and the statement do, and keep the id for a tooltip. It also knows who
// the directory has deactivated, so a page shows it even before (or without)
// the ceremony hearing of it.
type people map[string]personInfo

type personInfo struct {
	Name        string
	Deactivated bool
}

// name is the person's display name, or the id when it is not known.
func (p people) name(id string) string {
	if n := p[id].Name; n != "" {
		return n
	}
	return id
}

// names names each id.
func (p people) names(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = p.name(id)
	}
	return out
}

// deactivated says whether the directory has deactivated the person.
func (p people) deactivated(id string) bool { return p[id].Deactivated }

// people reads every witness's name and standing. A failure is logged and the
// pages show ids instead: a name is a convenience, never a reason to fail a page.
func (a *App) people(ctx context.Context) people {
	ws, err := a.store.ListWitnesses(ctx)
	if err != nil {
		a.log.Warn("read witness names; pages show ids", "err", err)
		return people{}
	}
	return peopleOf(ws)
}

// peopleOf is the names and standing of the witnesses read.
func peopleOf(ws []store.Witness) people {
	p := make(people, len(ws))
	for _, w := range ws {
		p[w.ID] = personInfo{Name: w.DisplayName, Deactivated: !w.Active()}
	}
	return p
}

// directoryOf is the witnesses read as rules resolves a template's witnesses
// from them (what store.Directory answers), so that a page which also names
// them reads the directory once.
func directoryOf(ws []store.Witness) []rules.Person {
	out := make([]rules.Person, len(ws))
	for i, w := range ws {
		out[i] = rules.Person{ID: w.ID, Roles: w.Roles, Active: w.Active()}
	}
	return out
}

// policyWords says a ceremony's quorum policy with the witnesses' names. (The
// statement package's PolicyWords, with ids, is what evidence bundles carry
// and verify word for word, so it does not change.)
func policyWords(spec contract.Spec, p people) string {
	ws := make([]string, 0, len(spec.Witnesses))
	for _, w := range spec.Witnesses {
		s := p.name(w.ID)
		if w.Role != "" {
			s += " (" + w.Role + ")"
		}
		ws = append(ws, s)
	}
	b := "Needs " + plural(spec.Quorum.Threshold, "approval", "approvals") + " from " + andList(ws) + quorumTerms(spec.Quorum)
	if spec.Initiator != "" {
		b += "; " + p.name(spec.Initiator) + ", who opened it, does not count"
	}
	return b + "."
}

// quorumTerms are a quorum's terms after its threshold, in words: the role
// minimums and the veto ("; at least 1 from security; a single reject from
// security ends the ceremony"). Ceremony and template pages both say a policy
// with them.
func quorumTerms(q contract.Quorum) string {
	var b string
	for _, r := range slices.Sorted(maps.Keys(q.Roles)) {
		b += "; at least " + itoa(q.Roles[r]) + " from " + r
	}
	if len(q.Veto) > 0 {
		b += "; a single reject from " + orList(slices.Sorted(slices.Values(q.Veto))) + " ends the ceremony"
	}
	return b
}

// decisionVerb is what a witness does: "approve" or "reject".
func decisionVerb(d contract.Decision) string {
	if d == contract.Reject {
		return "reject"
	}
	return "approve"
}

// prettyJSON indents JSON for reading; the bytes signed stay as they are.
func prettyJSON(s string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(s), "", "  "); err != nil {
		return s
	}
	return b.String()
}

// isAre agrees a verb with a count of people.
func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// artifactVersion is the version a location names: the tag of an image
// reference ("…/guildhall:v1.4.2" → "v1.4.2"), or "" when it names none.
func artifactVersion(uri string) string {
	last := uri[strings.LastIndex(uri, "/")+1:]
	if i := strings.LastIndex(last, "@"); i >= 0 {
		last = last[:i] // a digest pin is not a version
	}
	if i := strings.LastIndex(last, ":"); i >= 0 && i < len(last)-1 {
		return last[i+1:]
	}
	return ""
}
