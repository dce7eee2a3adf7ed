package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
)

// Withdrawing: the initiator of an open ceremony, or an admin, ends it with a
// reason (the `cancel` message, carrying who and the web's vouch for them, so
// the record says how they were authenticated). The workflow records it on the
// chain and notifies as for any outcome.

// withdrawReason checks the reason: required, a sentence at most.
func withdrawReason(s string) (string, string) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return s, "Say why it is withdrawn; the witnesses and the chain of custody get the reason."
	case len(s) > rules.MaxWithdrawReason || !utf8.ValidString(s):
		return s, "The reason must be readable text of at most " + itoa(rules.MaxWithdrawReason) + " characters."
	}
	return s, ""
}

// withdraw sends the cancel after checking who may; it returns the state the
// workflow reached and, on refusal, the status and words.
func (a *App) withdraw(ctx context.Context, id, reason, key string) (contract.State, int, string) {
	me := viewerFrom(ctx)
	v, code, err := a.detailData(ctx, id)
	switch {
	case err != nil && code == http.StatusNotFound:
		return v.State, code, "No ceremony with this id exists."
	case err != nil:
		return v.State, code, "The ceremony could not be loaded (" + plainError(err) + "). Try again in a moment."
	case !me.mayWithdraw(v.State):
		a.log.Warn("withdraw refused", "ceremony", id, "viewer", me.ID, "status", v.State.Status)
		if v.State.Status.Final() {
			return v.State, http.StatusConflict, "This ceremony has already ended (" + statusLabel(string(v.State.Status)) + ")."
		}
		return v.State, http.StatusForbidden, "Only the person who opened this ceremony, or an admin, may withdraw it."
	}
	msg := contract.Cancel{IdempotencyKey: "withdraw:" + me.ID + ":" + key, By: me.ID, Reason: "withdrawn by " + me.Name + ": " + reason}
	if err := a.vouchCancel(ctx, id, &msg); err != nil {
		if errors.Is(err, errAccessEnded) {
			a.log.Warn("no vouch: the session or token has ended", "ceremony", id, "viewer", me.ID)
			return v.State, http.StatusUnauthorized, "Your session or API token has ended, so nothing was withdrawn. Log in again (or use a token in force) and withdraw again."
		}
		a.log.Error("vouch for a withdraw", "ceremony", id, "viewer", me.ID, "err", err)
		return v.State, http.StatusServiceUnavailable, "The withdrawal could not be prepared (" + plainError(err) + "). Try again in a moment."
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.cer.Signal(sctx, id, contract.SignalCancel, msg); err != nil {
		a.log.Error("send withdraw", "ceremony", id, "err", err)
		return v.State, http.StatusServiceUnavailable, "The ceremony could not be withdrawn (" + plainError(err) + "). Try again in a moment."
	}
	a.log.Info("ceremony withdrawn", "ceremony", id, "by", me.ID)
	// The signal is fire-and-forget: wait briefly for the workflow to apply it,
	// so the answer shows the outcome.
	st := v.State
	for range 20 {
		if s, err := a.cer.Status(sctx, id); err == nil {
			if st = s; s.Status.Final() {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.notifyChanged(id)
	return st, http.StatusOK, ""
}

// withdrawForm is POST /ceremonies/{ns}/{name}/withdraw.
func (a *App) withdrawForm(w http.ResponseWriter, r *http.Request) {
	id, ok := ceremonyID(r)
	if !ok {
		a.errorPage(w, r, http.StatusNotFound, "No such ceremony", "The ceremony id in the address is not valid.")
		return
	}
	reason, why := withdrawReason(r.PostFormValue("reason"))
	key := r.PostFormValue("key")
	if why == "" && !validFormKey(key) {
		why = "The form was incomplete; reload the page and try again."
	}
	if why != "" {
		v, code, err := a.detailData(r.Context(), id)
		if err != nil {
			a.detailError(w, r, code, err)
			return
		}
		v.WithdrawError, v.WithdrawReason = why, reason
		a.renderDetail(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	if _, code, msg := a.withdraw(r.Context(), id, reason, key); msg != "" {
		a.errorPage(w, r, code, "Not withdrawn", msg)
		return
	}
	http.Redirect(w, r, "/ceremonies/"+id+"?withdrawn=1", http.StatusSeeOther)
}

// apiWithdraw is POST /api/v1/ceremonies/{ns}/{name}/cancel {"reason": …}.
func (a *App) apiWithdraw(w http.ResponseWriter, r *http.Request) {
	id, ok := ceremonyID(r)
	if !ok {
		problem(w, http.StatusNotFound, "no such ceremony", "The ceremony id is not valid.")
		return
	}
	var in struct {
		Reason         string `json:"reason"`
		IdempotencyKey string `json:"idempotencyKey"`
	}
	if !readJSON(w, r, &in, "The request could not be read: send {\"reason\": \"…\"}.") {
		return
	}
	reason, why := withdrawReason(in.Reason)
	if why == "" && len(in.IdempotencyKey) > rules.MaxIdempotencyKey {
		why = "idempotencyKey is too long"
	}
	if why != "" {
		problemExt(w, http.StatusUnprocessableEntity, "invalid request", why, map[string]any{"errors": map[string]string{"reason": why}})
		return
	}
	key := in.IdempotencyKey
	if key == "" {
		key = randomHex(16)
	}
	st, code, msg := a.withdraw(r.Context(), id, reason, key)
	if msg != "" {
		problem(w, code, strings.ToLower(http.StatusText(code)), msg)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"state": st})
}
