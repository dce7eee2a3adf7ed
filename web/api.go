package web

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
)

// The JSON API under /api/v1. Authentication is a bearer token (see tokens.go);
// authorization is the same as the pages': anyone authenticated reads, only a
// ceremony's registered witnesses sign. Errors are RFC 9457 problem documents.

func (a *App) apiRoutes(r chi.Router) {
	r.Use(a.limitBody(256 << 10))
	r.Post("/chronicle", a.apiChronicle)
	r.Group(func(r chi.Router) {
		r.Use(a.bearer, a.requireReader)
		r.Group(a.apiSessionRoutes)
		r.Get("/ceremonies", a.apiList)
		// Reads that query the workflow share one per-person limit.
		r.With(a.limiter(readLimit, keyByActor)).Group(func(r chi.Router) {
			r.Get("/ceremonies/{ns}/{name}", a.apiDetail)
			r.Get("/ceremonies/{ns}/{name}/statement", a.apiStatement)
		})
		r.With(a.signs).Post("/ceremonies/{ns}/{name}/sign", a.apiSign)
		r.Post("/ceremonies/{ns}/{name}/cancel", a.apiWithdraw)
		r.Group(a.apiAdminRoutes)
	})
}

// bearer authenticates API requests; cookies are ignored on purpose, so the API
// cannot be driven cross-site with a browser session.
func (a *App) bearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="guildhall"`)
			problem(w, http.StatusUnauthorized, "authentication required", "Send an API token as 'Authorization: Bearer <token>'. Create one on your account page.")
			return
		}
		t, ok := a.parseToken(strings.TrimSpace(tok))
		res := accessGone
		var sid string
		if ok {
			sid, res = a.checkAccess(r.Context(), store.KindToken, t.ID, t.WitnessID)
		}
		if res != accessOK {
			a.refuseToken(w, strings.TrimSpace(tok), res)
			return
		}
		v := &viewer{ID: t.WitnessID, Name: t.WitnessID, Via: "token", Session: sid}
		switch err := a.withWitness(r.Context(), v); {
		case err == nil:
		case errors.Is(err, errDeactivated):
			problem(w, http.StatusForbidden, "deactivated", accessWithdrawnText)
			return
		case errors.Is(err, store.ErrNotFound):
			problem(w, http.StatusUnauthorized, "invalid token", "The token's witness no longer exists.")
			return
		default:
			a.log.Error("API: load witness", "witness", t.WitnessID, "err", err)
			problem(w, http.StatusServiceUnavailable, "temporarily unavailable", "The database did not answer.")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), viewerKey, v)))
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// apiCeremony is the list representation of a ceremony (from the Ops DB).
type apiCeremony struct {
	ID             string     `json:"id"`
	Title          string     `json:"title"`
	Kind           string     `json:"kind"`
	Status         string     `json:"status"`
	Reason         string     `json:"reason,omitempty"`
	ArtifactDigest string     `json:"artifactDigest"`
	Initiator      string     `json:"initiator"`
	Threshold      int        `json:"threshold"`
	Approvals      int        `json:"approvals"`
	Rejections     int        `json:"rejections"`
	Pending        []string   `json:"pending"`
	Deadline       time.Time  `json:"deadline"`
	OpenedAt       time.Time  `json:"openedAt"`
	ClosedAt       *time.Time `json:"closedAt,omitempty"`
	URL            string     `json:"url"`
}

func (a *App) apiList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lq := parseListQuery(q)
	size := listPageSize
	if n, err := strconv.Atoi(q.Get("pageSize")); err == nil && n >= 1 && n <= 200 {
		size = n
	}
	f := store.CeremonyFilter{Statuses: lq.Statuses, Kind: lq.Kind, Limit: size, Offset: (lq.Page - 1) * size}
	if lq.Awaiting {
		f.AwaitingWitness = viewerFrom(r.Context()).ID
	}
	rows, total, err := a.store.ListCeremonies(r.Context(), f)
	if err != nil {
		a.log.Error("API: list ceremonies", "err", err)
		problem(w, http.StatusServiceUnavailable, "temporarily unavailable", "The operations database did not answer.")
		return
	}
	items := make([]apiCeremony, 0, len(rows))
	for _, c := range rows {
		items = append(items, apiCeremony{ID: c.ID, Title: c.Title, Kind: c.Kind, Status: c.Status, Reason: c.Reason,
			ArtifactDigest: c.ArtifactDigest, Initiator: c.Initiator, Threshold: c.Threshold, Approvals: c.Approvals,
			Rejections: c.Rejections, Pending: c.PendingIDs, Deadline: c.Deadline, OpenedAt: c.OpenedAt, ClosedAt: c.ClosedAt,
			URL: a.cfg.BaseURL + "/api/v1/ceremonies/" + c.ID})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": total, "page": lq.Page, "pageSize": size})
}

func (a *App) apiDetail(w http.ResponseWriter, r *http.Request) {
	v, ok := a.apiLoad(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"state": v.State, "live": v.Live, "canSign": v.CanSign})
}

func (a *App) apiLoad(w http.ResponseWriter, r *http.Request) (detailView, bool) {
	id, ok := ceremonyID(r)
	if !ok {
		problem(w, http.StatusNotFound, "no such ceremony", "The ceremony id is not valid.")
		return detailView{}, false
	}
	v, code, err := a.detailData(r.Context(), id)
	if err != nil {
		if code == http.StatusNotFound {
			problem(w, code, "no such ceremony", "No ceremony with id "+id+" exists.")
		} else {
			a.log.Error("API: load ceremony", "ceremony", id, "err", err)
			problem(w, code, "temporarily unavailable", "The ceremony could not be loaded.")
		}
		return v, false
	}
	return v, true
}

// apiStatement returns the canonical statement to sign for a decision.
func (a *App) apiStatement(w http.ResponseWriter, r *http.Request) {
	id, ok := ceremonyID(r)
	if !ok {
		problem(w, http.StatusNotFound, "no such ceremony", "The ceremony id is not valid.")
		return
	}
	v, ref := a.signTarget(r.Context(), id, true)
	if ref != nil {
		refuseJSON(w, ref)
		return
	}
	me := viewerFrom(r.Context())
	d, err := rules.ParseDecision(r.URL.Query().Get("decision"))
	if err != nil {
		problem(w, http.StatusBadRequest, "decision required", "Add ?decision=approve or ?decision=reject.")
		return
	}
	// The comment, if any, is bound into the statement: send the same text,
	// byte for byte, as the sign request's comment.
	comment := r.URL.Query().Get("comment")
	if p := rules.CommentProblem(comment); p != "" {
		problem(w, http.StatusBadRequest, "invalid comment", "The comment is "+p+".")
		return
	}
	st := statement.Build(v.State.Spec, me.ID, d, comment, a.cfg.Now())
	writeJSON(w, http.StatusOK, map[string]string{"statement": string(st.Canonical()), "digest": st.Digest(),
		"words": st.ToWords(me.Name), "signWith": "ed25519 over the statement bytes (guildhall sign), then POST .../sign with the same comment"})
}

// apiSignRequest is the body of POST .../sign.
type apiSignRequest struct {
	IdempotencyKey string `json:"idempotencyKey"`
	Decision       string `json:"decision"`
	Comment        string `json:"comment"`
	Statement      string `json:"statement"`
	KeyID          string `json:"keyId"`
	Signature      string `json:"signature"` // base64 (std) ed25519 signature over the statement
}

func (a *App) apiSign(w http.ResponseWriter, r *http.Request) {
	id, ok := ceremonyID(r)
	if !ok {
		problem(w, http.StatusNotFound, "no such ceremony", "The ceremony id is not valid.")
		return
	}
	me := viewerFrom(r.Context())
	var in apiSignRequest
	if !readAPIBody(w, r, &in) {
		return
	}
	// Authorization first: nothing reaches the workflow for non-witnesses.
	v, ref := a.signTarget(r.Context(), id, false)
	if ref != nil && ref.Status == http.StatusConflict && in.IdempotencyKey != "" {
		if st, ok := a.answeredBefore(r.Context(), v, messageKey("api", me.ID, in.IdempotencyKey)); ok {
			writeJSON(w, http.StatusOK, map[string]any{"state": st})
			return
		}
	}
	if ref != nil {
		a.log.Warn("API signature refused", "ceremony", id, "caller", me.ID, "why", ref.Title)
		refuseJSON(w, ref)
		return
	}
	st := v.State
	proof := &contract.Proof{Type: statement.KeyEd25519, KeyID: in.KeyID, Signature: in.Signature}
	req := contract.SignRequest{IdempotencyKey: in.IdempotencyKey, WitnessID: me.ID, Decision: contract.Decision(in.Decision),
		Comment: in.Comment, Statement: in.Statement, Proof: proof}
	if ps := rules.CheckSignRequest(req); len(ps) > 0 {
		problemExt(w, http.StatusUnprocessableEntity, "invalid request", ps.Error(), map[string]any{"errors": problemMap(ps)})
		return
	}
	// The same check the workflow's validator makes, so a bad signature is
	// refused here with a clear answer and never reaches the workflow.
	if err := statement.VerifyRequest(st, req, publicKeys(me.Witness), a.cfg.Now()); err != nil {
		a.log.Warn("API signature refused", "ceremony", id, "witness", me.ID, "key", in.KeyID, "err", err)
		var p *statement.Problem
		msg := err.Error()
		if errors.As(err, &p) {
			msg = p.Reason
		}
		problem(w, http.StatusForbidden, "bad signature", msg)
		return
	}
	t := signTicket{CeremonyID: id, WitnessID: me.ID, Decision: req.Decision, Comment: in.Comment,
		Statement: in.Statement, Key: in.IdempotencyKey}
	state, msg, code := a.sendSignVia(r.Context(), id, t, proof, "api")
	if msg != "" {
		problem(w, code, "signature not accepted", msg)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"state": state})
}

// apiChronicle hands Chronicle events to the ingest handler, behind the ingest token.
func (a *App) apiChronicle(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if a.cfg.IngestToken == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.IngestToken)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="guildhall-ingest"`)
		problem(w, http.StatusUnauthorized, "ingest token required", "Chronicle ingest needs the collector's bearer token.")
		return
	}
	if a.ingest == nil {
		problem(w, http.StatusNotImplemented, "ingest not available", "This instance does not ingest Chronicle events.")
		return
	}
	a.ingest.ServeHTTP(w, r)
}
