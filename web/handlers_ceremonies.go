package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
)

const listPageSize = 25

// openStatuses are the states a witness can still act on or wait for.
var openStatuses = []string{string(contract.StatusCollecting), string(contract.StatusQuorumReached)}

type dashboardView struct {
	Now             time.Time
	Counts          map[string]int
	Total           int
	Open            int
	AwaitingMe      []store.Ceremony
	AwaitingMeTotal int
	Overdue         []store.Ceremony
	OverdueTotal    int
	RecentlySealed  []store.Ceremony
	Chain           chainStatus
	// IntuneAttention are Graph bridge deployments an operator should look at.
	IntuneAttention []intuneView
}

func (a *App) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	me := viewerFrom(ctx)
	v := dashboardView{Now: a.cfg.Now()}
	var err error
	if v.Counts, err = a.countByStatus(ctx); err != nil {
		a.dbError(w, r, "count ceremonies", err)
		return
	}
	for s, n := range v.Counts {
		v.Total += n
		if slices.Contains(openStatuses, s) {
			v.Open += n
		}
	}
	if v.AwaitingMe, v.AwaitingMeTotal, err = a.store.ListCeremonies(ctx, store.CeremonyFilter{
		Statuses: []string{string(contract.StatusCollecting)}, AwaitingWitness: me.ID, Limit: 10}); err != nil {
		a.dbError(w, r, "list ceremonies awaiting the viewer", err)
		return
	}
	if v.Overdue, v.OverdueTotal, err = a.store.OverdueCeremonies(ctx, v.Now, 10); err != nil {
		a.dbError(w, r, "list overdue ceremonies", err)
		return
	}
	if v.RecentlySealed, err = a.store.RecentlyClosed(ctx, []string{string(contract.StatusSealed)}, 5); err != nil {
		a.dbError(w, r, "list recently sealed ceremonies", err)
		return
	}
	ds, err := a.store.IntuneAttention(ctx, intuneAttentionAfter, 10)
	if err != nil {
		a.dbError(w, r, "list intune deployments needing attention", err)
		return
	}
	v.IntuneAttention = intuneViews(ds)
	v.Chain = a.chainStatus(ctx)
	if r.URL.Query().Get("fragment") == "cards" {
		a.render(w, r, http.StatusOK, dashboardCards(v))
		return
	}
	a.render(w, r, http.StatusOK, dashboardPage(a.meta(r, "Dashboard"), v))
}

// dbError logs a database failure and shows a plain page.
func (a *App) dbError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, context.Canceled) {
		return // the browser went away
	}
	a.log.Error(what, "err", err, "path", r.URL.Path)
	a.errorPage(w, r, http.StatusServiceUnavailable, "Temporarily unavailable",
		"The operations database did not answer ("+plainError(err)+"). Try again in a moment.")
}

// listQuery is the parsed filter of /ceremonies, kept so links can keep it.
type listQuery struct {
	Statuses []string
	Kind     string
	Awaiting bool
	Page     int
}

func parseListQuery(q url.Values) listQuery {
	lq := listQuery{Kind: q.Get("kind"), Awaiting: q.Get("awaiting") == "me", Page: 1}
	for _, s := range q["status"] {
		if s == "open" {
			lq.Statuses = append(lq.Statuses, openStatuses...)
			continue
		}
		if slices.Contains(contract.Statuses, contract.Status(s)) && !slices.Contains(lq.Statuses, s) {
			lq.Statuses = append(lq.Statuses, s)
		}
	}
	if !slices.Contains(contract.Kinds, lq.Kind) {
		lq.Kind = ""
	}
	if p, err := strconv.Atoi(q.Get("page")); err == nil && p > 1 && p < 1_000_000 {
		lq.Page = p
	}
	return lq
}

// encode renders the filter as a query string for page p.
func (lq listQuery) encode(p int) string {
	v := url.Values{}
	for _, s := range lq.Statuses {
		v.Add("status", s)
	}
	if lq.Kind != "" {
		v.Set("kind", lq.Kind)
	}
	if lq.Awaiting {
		v.Set("awaiting", "me")
	}
	if p > 1 {
		v.Set("page", strconv.Itoa(p))
	}
	if len(v) == 0 {
		return "/ceremonies"
	}
	return "/ceremonies?" + v.Encode()
}

func (lq listQuery) has(status string) bool { return slices.Contains(lq.Statuses, status) }

type listView struct {
	Now   time.Time
	Q     listQuery
	Rows  []store.Ceremony
	Total int
	Pages int
}

func (a *App) ceremonyList(w http.ResponseWriter, r *http.Request) {
	v, err := a.listData(r)
	if err != nil {
		a.dbError(w, r, "list ceremonies", err)
		return
	}
	if r.URL.Query().Get("fragment") == "rows" {
		a.render(w, r, http.StatusOK, ceremonyTable(v))
		return
	}
	a.render(w, r, http.StatusOK, listPage(a.meta(r, "Ceremonies"), v))
}

func (a *App) listData(r *http.Request) (listView, error) {
	me := viewerFrom(r.Context())
	v := listView{Now: a.cfg.Now(), Q: parseListQuery(r.URL.Query())}
	f := store.CeremonyFilter{Statuses: v.Q.Statuses, Kind: v.Q.Kind, Limit: listPageSize, Offset: (v.Q.Page - 1) * listPageSize}
	if v.Q.Awaiting {
		f.AwaitingWitness = me.ID
	}
	var err error
	v.Rows, v.Total, err = a.store.ListCeremonies(r.Context(), f)
	if err != nil {
		return v, err
	}
	v.Pages = max(1, (v.Total+listPageSize-1)/listPageSize)
	return v, nil
}

// ceremonyID reads "<namespace>/<name>" from the route.
func ceremonyID(r *http.Request) (string, bool) {
	ns, name := chi.URLParam(r, "ns"), chi.URLParam(r, "name")
	id := ns + "/" + name
	return id, rules.CeremonyID(id) == nil
}

type detailView struct {
	viewer    string
	Now       time.Time
	ID        string
	State     contract.State
	Live      bool   // State came from the workflow (else from the Ops DB)
	LiveNote  string // why it is not live
	Ceremony  *store.Ceremony
	Custody   []store.CustodyEvent
	CanSign   bool
	IsWitness bool
	// IsInitiator: the viewer opened it (and so never signs it).
	IsInitiator bool
	MySig       *contract.Signature
	FormKey     string
	SignError   string
	Comment     string
	// Notice confirms the viewer's just-recorded signature (see signedNotice).
	Notice string
	// HasEvidence: an evidence download is mounted (custody issue).
	HasEvidence bool
	// Opened confirms a ceremony the viewer just opened (?opened=1).
	Opened bool
	// CanWithdraw: the viewer may withdraw it (authz.go); WithdrawError and
	// WithdrawReason show a refused withdraw form back; Withdrawn confirms one.
	CanWithdraw bool
	// NeedsKey says why the viewer, asked to sign, cannot do it with the
	// form here and what to do instead (needsKey); "" when they can.
	NeedsKey                      string
	WithdrawError, WithdrawReason string
	Withdrawn                     bool
	// People names the witnesses; Progress explains the quorum's standing.
	People   people
	Progress progress
}

// myRoles are the viewer's roles in this ceremony.
func (v detailView) myRoles() []string {
	var out []string
	for _, w := range v.State.Spec.Witnesses {
		if w.ID == v.viewer && w.Role != "" && !slices.Contains(out, w.Role) {
			out = append(out, w.Role)
		}
	}
	return out
}

func (a *App) ceremonyDetail(w http.ResponseWriter, r *http.Request) {
	id, ok := ceremonyID(r)
	if !ok {
		a.errorPage(w, r, http.StatusNotFound, "No such ceremony", "The ceremony id in the address is not valid.")
		return
	}
	v, code, err := a.detailData(r.Context(), id)
	if err != nil {
		if code == http.StatusNotFound && r.URL.Query().Get("created") == "1" {
			a.errorPage(w, r, http.StatusAccepted, "Ceremony requested",
				"The Ceremony resource was created in the cluster. It appears here as soon as the watcher has started it; reload in a few seconds.")
			return
		}
		a.detailError(w, r, code, err)
		return
	}
	if r.URL.Query().Get("signed") == "1" {
		v.Notice = signedNotice(v.MySig)
	}
	v.Opened = r.URL.Query().Get("opened") == "1" && v.IsInitiator
	v.Withdrawn = r.URL.Query().Get("withdrawn") == "1" && v.State.Status == contract.StatusCancelled
	if r.URL.Query().Get("fragment") == "live" {
		a.present(r.Context(), &v)
		a.render(w, r, http.StatusOK, detailLive(v))
		return
	}
	a.renderDetail(w, r, http.StatusOK, v)
}

// renderDetail draws the ceremony page (also with a signing error).
func (a *App) renderDetail(w http.ResponseWriter, r *http.Request, code int, v detailView) {
	a.present(r.Context(), &v)
	a.render(w, r, code, detailPage(a.meta(r, rules.Title(v.State.Spec)), v))
}

// present adds what only the page shows: names, the quorum's standing and the
// ceremony's chain of custody (read here, not by detailData, since the API and
// the sign and withdraw paths that succeed never show it).
func (a *App) present(ctx context.Context, v *detailView) {
	v.People = a.people(ctx)
	v.Progress = summarizeProgress(v.State, v.People.name)
	if v.Ceremony == nil {
		return // not in the Ops DB yet: no chain to show
	}
	ev, err := a.store.CeremonyCustody(ctx, v.ID)
	if err != nil {
		a.log.Warn("read custody timeline", "ceremony", v.ID, "err", err)
	}
	v.Custody = ev
}

func (a *App) detailError(w http.ResponseWriter, r *http.Request, code int, err error) {
	if code == http.StatusNotFound {
		a.errorPage(w, r, code, "No such ceremony", "No ceremony with this id exists. It may not have been opened yet.")
		return
	}
	a.log.Error("load ceremony", "path", r.URL.Path, "err", err)
	a.errorPage(w, r, code, "Temporarily unavailable", "The ceremony could not be loaded ("+plainError(err)+"). Try again in a moment.")
}

// detailData loads a ceremony's live state from the `status` query, falling
// back to the Ops DB row when the workflow cannot be asked (Temporal down, or
// history past retention) so the page still says what is known. What only the
// page shows is added by present.
func (a *App) detailData(ctx context.Context, id string) (detailView, int, error) {
	me := viewerFrom(ctx)
	v := detailView{viewer: me.ID, Now: a.cfg.Now(), ID: id, FormKey: randomHex(16), HasEvidence: a.evidence != nil}
	qctx, cancel := context.WithTimeout(ctx, statusQueryTimeout)
	st, qerr := a.cer.Status(qctx, id)
	cancel()
	row, rerr := a.store.GetCeremony(ctx, id)
	if rerr == nil {
		v.Ceremony = &row
	}
	switch {
	case qerr == nil:
		v.State, v.Live = st, true
	case rerr != nil && isNotFound(rerr) && isNotFound(qerr):
		return v, http.StatusNotFound, qerr
	case rerr != nil:
		if isNotFound(rerr) {
			return v, http.StatusServiceUnavailable, qerr
		}
		return v, http.StatusServiceUnavailable, rerr
	default:
		a.log.Warn("status query failed; showing the Ops DB copy", "ceremony", id, "err", qerr)
		v.State = stateFromRow(row)
		sigs, err := a.store.Signatures(ctx, id)
		if err != nil {
			a.log.Warn("read signatures", "ceremony", id, "err", err)
		}
		for _, s := range sigs {
			if s.VoidedAt == nil {
				v.State.Signatures = append(v.State.Signatures, s.Contract())
			}
		}
		if isNotFound(qerr) {
			v.LiveNote = "The workflow history is no longer available; this is the recorded outcome."
		} else {
			v.LiveNote = "Live state is unavailable right now (" + plainError(qerr) + "); showing the last recorded state."
		}
	}
	v.IsWitness = rules.IsListed(v.State.Spec, me.ID)
	v.IsInitiator = me.ID == v.State.Spec.Initiator
	for i := range v.State.Signatures {
		if v.State.Signatures[i].WitnessID == me.ID {
			v.MySig = &v.State.Signatures[i]
		}
	}
	v.CanSign = v.Live && mayViewerSign(me, v.State) == nil
	v.CanWithdraw = v.Live && me.mayWithdraw(v.State)
	if v.CanSign {
		v.NeedsKey = needsKey(v.State.Spec, me, id)
	}
	return v, http.StatusOK, nil
}

// stateFromRow rebuilds what the Ops DB knows of a ceremony in the query's shape.
func stateFromRow(c store.Ceremony) contract.State {
	st := contract.State{CeremonyID: c.ID, Status: contract.Status(c.Status), Reason: c.Reason,
		OpenedAt: c.OpenedAt, ClosedAt: c.ClosedAt, Pending: c.PendingIDs, Approvals: c.Approvals, Rejections: c.Rejections}
	_ = json.Unmarshal([]byte(c.Spec), &st.Spec)
	return st
}

var formKeyRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func validFormKey(k string) bool { return formKeyRE.MatchString(k) }

// fragmentURL is the list URL that returns only the table, for live refresh.
func (lq listQuery) fragmentURL() string {
	u := lq.encode(lq.Page)
	if strings.Contains(u, "?") {
		return u + "&fragment=rows"
	}
	return u + "?fragment=rows"
}

// statusQueryTimeout bounds the live `status` query; past it the page shows the
// Ops DB copy and says so. A query needs a worker to answer, which can take a
// few seconds on a busy worker.
const statusQueryTimeout = 10 * time.Second
