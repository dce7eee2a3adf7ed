package web

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
)

// The Graph bridge on the web: the artifact page shows each of the artifact's
// Intune deployments (what the sealed ceremony decided, how far carrying it
// out got, what the drift check found), the dashboard lists those that need
// an operator, and an admin may carry a decision out again.

// IntuneJobs starts the Graph bridge's work; *ceremonyclient.Client satisfies it.
type IntuneJobs interface {
	StartIntune(ctx context.Context, job contract.IntuneJob) (ceremonyclient.IntuneRun, error)
}

// intuneAttentionAfter is how many failed tries make a pending deployment
// something an operator should see.
const intuneAttentionAfter = 3

// intuneView is one deployment as the pages show it.
type intuneView struct {
	D       store.IntuneDeployment
	Target  contract.IntuneTarget
	Words   string   // the target in words
	Drift   []string // the last drift check's differences, in words
	Summary string   // the state in one sentence
	Class   string   // badge class
	Label   string   // badge text
}

func newIntuneView(d store.IntuneDeployment) intuneView {
	v := intuneView{D: d}
	if t, err := d.IntuneTarget(); err == nil {
		v.Target, v.Words = t, rules.IntuneWords(&t)
	}
	var drift []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal([]byte(d.Drift), &drift)
	for _, c := range drift {
		v.Drift = append(v.Drift, c.Text)
	}
	what := "the release"
	if d.Decision == string(contract.IntuneRevoked) {
		what = "the withdrawal"
	}
	switch {
	case d.State == store.IntuneFailed:
		v.Class, v.Label = "i-failed", "failed"
		v.Summary = "Graph refused " + what + "; a person must fix it, then an admin applies it again."
	case d.State == store.IntunePending && d.Attempts > 0:
		v.Class, v.Label = "i-pending", "pending"
		v.Summary = "Carrying out " + what + ": " + plural(d.Attempts, "try has", "tries have") + " failed so far; it keeps trying."
	case d.State == store.IntunePending:
		v.Class, v.Label = "i-pending", "pending"
		v.Summary = "Carrying out " + what + "."
	case d.Drifted():
		v.Class, v.Label = "i-drift", "drift"
		v.Summary = "Intune differs from the sealed decision (found by the drift check); an admin may apply it again."
	case d.Decision == string(contract.IntuneRevoked):
		v.Class, v.Label = "i-applied", "withdrawn"
		v.Summary = "Withdrawn from Intune as the ceremony decided for a revocation."
	default:
		v.Class, v.Label = "i-applied", "deployed"
		v.Summary = "Intune holds the assignments the ceremony decided."
	}
	return v
}

// reapplyWhat says which decision re-applying carries out.
func reapplyWhat(artifactState string) string {
	if store.IntuneDecisionFor(artifactState) == contract.IntuneRevoked {
		return "the artifact is revoked: withdraw"
	}
	return "released"
}

func intuneViews(ds []store.IntuneDeployment) []intuneView {
	out := make([]intuneView, len(ds))
	for i, d := range ds {
		out[i] = newIntuneView(d)
	}
	return out
}

// intuneReapply is POST /artifacts/{digest}/intune/apply: carry the artifact's
// current decision (released, or revoked once it was) out again for each of
// its deployments. Admins only (requireAdmin: it makes Graph calls in the
// organisation's tenant); recorded on the chain as asked for by them.
func (a *App) intuneReapply(w http.ResponseWriter, r *http.Request) {
	me := viewerFrom(r.Context())
	if a.intune == nil {
		a.errorPage(w, r, http.StatusServiceUnavailable, "Not available", "This web app cannot start Graph bridge work.")
		return
	}
	art, ok := a.artifactOf(w, r)
	if !ok {
		return
	}
	ctx, digest := r.Context(), art.Digest
	ds, err := a.store.IntuneDeploymentsOf(ctx, digest)
	if err != nil {
		a.dbError(w, r, "list intune deployments", err)
		return
	}
	if len(ds) == 0 {
		a.errorPage(w, r, http.StatusNotFound, "Nothing to apply", "None of this artifact's sealed ceremonies has an Intune target.")
		return
	}
	decision := store.IntuneDecisionFor(art.State)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, d := range ds {
		job := contract.IntuneJob{CeremonyID: d.CeremonyID, Decision: decision, Digest: digest, Cause: contract.IntuneCauseOperator, By: me.ID}
		if _, err := a.intune.StartIntune(sctx, job); err != nil {
			a.log.Error("start intune re-apply", "ceremony", d.CeremonyID, "err", err)
			a.errorPage(w, r, http.StatusServiceUnavailable, "Could not start",
				"Carrying the decision out again could not be started ("+plainError(err)+"). Try again in a moment.")
			return
		}
	}
	a.log.Info("intune re-apply started", "artifact", digest, "decision", decision, "by", me.ID, "deployments", len(ds))
	http.Redirect(w, r, "/artifacts/"+digest+"?reapplied=1#intune", http.StatusSeeOther)
}
