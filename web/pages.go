package web

import (
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
)

// Artifacts, chronicle and posture pages.

var artifactStates = []string{store.ArtifactProposed, store.ArtifactAttested, store.ArtifactReleased, store.ArtifactRevoked}

type artifactListView struct {
	Rows  []store.Artifact
	Total int
	Page  int
	Pages int
}

func pageParam(r *http.Request) int {
	p, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || p < 1 || p > 1_000_000 {
		return 1
	}
	return p
}

func (a *App) artifactList(w http.ResponseWriter, r *http.Request) {
	v := artifactListView{Page: pageParam(r)}
	var err error
	v.Rows, v.Total, err = a.store.ListArtifacts(r.Context(), listPageSize, (v.Page-1)*listPageSize)
	if err != nil {
		a.dbError(w, r, "list artifacts", err)
		return
	}
	v.Pages = max(1, (v.Total+listPageSize-1)/listPageSize)
	a.render(w, r, http.StatusOK, artifactListPage(a.meta(r, "Artifacts"), v))
}

type artifactView struct {
	A          store.Artifact
	Ceremonies []store.Ceremony
	Custody    []timelineEntry
	// Intune are the artifact's Graph bridge deployments; MayReapply lets the
	// viewer carry them out again, Reapplied says they just did.
	Intune     []intuneView
	MayReapply bool
	Reapplied  bool
}

// timelineEntry is a custody event made readable.
type timelineEntry struct {
	E     store.CustodyEvent
	Label string // the event type in words
	Actor string // who, by name
	// Unvouched: the event records operator assurance, so Actor is only the
	// name its message carried ("in the name of", not "by").
	Unvouched bool
	Summary   string
}

// artifactOf loads the artifact the address names, or answers the request
// with why not.
func (a *App) artifactOf(w http.ResponseWriter, r *http.Request) (store.Artifact, bool) {
	digest := chi.URLParam(r, "digest")
	if !rules.Digest.MatchString(digest) {
		a.errorPage(w, r, http.StatusNotFound, "No such artifact", "The digest in the address is not valid.")
		return store.Artifact{}, false
	}
	art, err := a.store.GetArtifact(r.Context(), digest)
	if err != nil {
		if isNotFound(err) {
			a.errorPage(w, r, http.StatusNotFound, "No such artifact", "No governed artifact has this digest.")
			return art, false
		}
		a.dbError(w, r, "load artifact", err)
		return art, false
	}
	return art, true
}

func (a *App) artifactDetail(w http.ResponseWriter, r *http.Request) {
	art, ok := a.artifactOf(w, r)
	if !ok {
		return
	}
	ctx, digest := r.Context(), art.Digest
	v := artifactView{A: art}
	var err error
	if v.Ceremonies, err = a.store.CeremoniesOfArtifact(ctx, digest, 50); err != nil {
		a.dbError(w, r, "list ceremonies of artifact", err)
		return
	}
	events, err := a.store.ArtifactCustody(ctx, digest, 500)
	if err != nil {
		a.dbError(w, r, "artifact custody", err)
		return
	}
	v.Custody = timeline(events, a.people(ctx))
	ds, err := a.store.IntuneDeploymentsOf(ctx, digest)
	if err != nil {
		a.dbError(w, r, "list intune deployments", err)
		return
	}
	v.Intune, v.Reapplied = intuneViews(ds), r.URL.Query().Get("reapplied") == "1"
	v.MayReapply = viewerFrom(ctx).isAdmin() && a.intune != nil
	a.render(w, r, http.StatusOK, artifactPage(a.meta(r, art.Name), v))
}

type chronicleView struct {
	Entries []timelineEntry
	All     bool  // all custody events, not only chronicle ones
	Next    int64 // seq to page from (0: no older page)
	First   bool
}

const chroniclePageSize = 50

func (a *App) chronicle(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := chronicleView{All: q.Get("all") == "1"}
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	v.First = before <= 0
	f := store.CustodyFilter{BeforeSeq: before, Limit: chroniclePageSize + 1}
	if !v.All {
		f.Types = []string{custody.TypeChronicle}
	}
	events, err := a.store.ListCustody(r.Context(), f)
	if err != nil {
		a.dbError(w, r, "list chronicle", err)
		return
	}
	if len(events) > chroniclePageSize {
		events = events[:chroniclePageSize]
		v.Next = events[len(events)-1].Seq
	}
	v.Entries = timeline(events, a.people(r.Context()))
	a.render(w, r, http.StatusOK, chroniclePage(a.meta(r, "Chronicle"), v))
}

func (v chronicleView) olderURL() string {
	u := "/chronicle?before=" + strconv.FormatInt(v.Next, 10)
	if v.All {
		u += "&all=1"
	}
	return u
}

// posture

const postureDays = 30

func (a *App) posture(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := a.cfg.Now().UTC()
	since := now.Truncate(24*time.Hour).AddDate(0, 0, -(postureDays - 1))
	rows, err := a.store.CeremoniesOpenedSince(ctx, since, 20000)
	if err != nil {
		a.dbError(w, r, "posture: ceremonies", err)
		return
	}
	qt, err := a.store.QuorumTimes(ctx, now.AddDate(0, 0, -90), 20000)
	if err != nil {
		a.dbError(w, r, "posture: time to quorum", err)
		return
	}
	overdue, overdueTotal, err := a.store.OverdueCeremonies(ctx, now, 200)
	if err != nil {
		a.dbError(w, r, "posture: overdue", err)
		return
	}
	v := postureView{
		ByDay:        statusByDay(rows, since, postureDays),
		Quorum:       quorumHistogram(qt),
		Overdue:      overdueByWitness(overdue, a.people(ctx)),
		OverdueTotal: overdueTotal,
		Since:        since,
	}
	a.render(w, r, http.StatusOK, posturePage(a.meta(r, "Posture"), v))
}

type postureView struct {
	ByDay        stackedChart
	Quorum       barChart
	Overdue      barChart
	OverdueTotal int
	Since        time.Time
}

func overdueByWitness(rows []store.Ceremony, p people) barChart {
	n := map[string]int{}
	for _, c := range rows {
		for _, w := range c.PendingIDs {
			n[w]++
		}
	}
	var bars []bar
	for w, k := range n {
		bars = append(bars, bar{Label: p.name(w), N: k})
	}
	sort.Slice(bars, func(i, j int) bool {
		if bars[i].N != bars[j].N {
			return bars[i].N > bars[j].N
		}
		return bars[i].Label < bars[j].Label
	})
	if len(bars) > 15 {
		bars = bars[:15]
	}
	return newBarChart(bars)
}
