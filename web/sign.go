package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
)

// Signing is two steps. Review: the witness's decision and comment become a
// canonical statement, shown in words, as JSON and as its SHA-256 digest, with a
// signed ticket that carries it. Confirm: the ticket comes back (with a WebAuthn
// assertion when the witness has passkeys), the server re-derives the statement
// from the ceremony's current state, refuses if anything changed, and only then
// sends the `sign` update. Nothing reaches the workflow for non-witnesses.

const ticketTTL = 10 * time.Minute

// signTicket is the HMAC-signed record of what a witness reviewed. It is stateless
// (it rides in the review page), bound to the witness, the ceremony and a time.
type signTicket struct {
	CeremonyID string                `json:"c"`
	WitnessID  string                `json:"w"`
	Decision   contract.Decision     `json:"d"`
	Comment    string                `json:"m,omitempty"`
	Statement  string                `json:"s"`
	Key        string                `json:"k"`
	Nonce      string                `json:"n,omitempty"` // base64 std, WebAuthn only
	WebAuthn   *webauthn.SessionData `json:"wa,omitempty"`
	Expires    int64                 `json:"e"`
}

const ticketName = "sign-ticket"

type reviewView struct {
	Detail      detailView
	Statement   statement.Statement
	Canonical   string
	Digest      string
	Words       string
	Comment     string
	Ticket      string
	Passkey     bool   // the witness signs with a passkey
	OptionsJSON string // WebAuthn request options for navigator.credentials.get
	Error       string
}

// signReview prepares the statement for confirmation.
func (a *App) signReview(w http.ResponseWriter, r *http.Request) {
	v, ok := a.signableForm(w, r)
	if !ok {
		return
	}
	me := viewerFrom(r.Context())
	decision, derr := rules.ParseDecision(r.PostFormValue("decision"))
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	key := r.PostFormValue("key")
	fail := func(msg string) {
		v.SignError, v.Comment = msg, comment
		a.renderDetail(w, r, http.StatusUnprocessableEntity, v)
	}
	switch {
	case derr != nil:
		fail("Choose approve or reject.")
		return
	case rules.CommentProblem(comment) != "":
		fail("The comment is " + rules.CommentProblem(comment) + ".")
		return
	case !validFormKey(key):
		fail("The form was incomplete; reload the page and try again.")
		return
	}
	st := statement.Build(v.State.Spec, me.ID, decision, comment, a.cfg.Now())
	t := signTicket{CeremonyID: v.ID, WitnessID: me.ID, Decision: decision, Comment: comment,
		Statement: string(st.Canonical()), Key: key, Expires: a.cfg.Now().Add(ticketTTL).Unix()}
	rv := reviewView{Detail: v, Statement: st, Canonical: t.Statement, Digest: st.Digest(),
		Words: st.ToWords(me.Name), Comment: comment}
	if creds := webauthnCredentials(me.Witness); len(creds) > 0 {
		opts, session, nonce, err := a.beginPasskeySign(me, []byte(t.Statement))
		if err != nil {
			a.log.Error("prepare passkey signature", "witness", me.ID, "err", err)
			if a.webauthn == nil {
				fail(passkeysOffText)
				return
			}
			fail("Passkey signing could not be prepared. Try again.")
			return
		}
		t.Nonce, t.WebAuthn, rv.Passkey = base64.StdEncoding.EncodeToString(nonce), session, true
		b, _ := json.Marshal(opts.Response)
		rv.OptionsJSON = string(b)
	}
	tok, err := a.cookies.encode(ticketName, t)
	if err != nil {
		fail("The statement could not be prepared. Try again.")
		return
	}
	rv.Ticket = tok
	w.Header().Set("Cache-Control", "no-store")
	a.render(w, r, http.StatusOK, reviewPage(a.meta(r, "Review your signature"), rv))
}

// signableForm loads the ceremony of a form sign path (review and confirm) and
// authorizes the viewer (signTarget), then checks the form's own channel: a
// witness whose signature must be made with a key the form cannot use
// (needsKey) is told what to do instead, at review and at confirm alike. On
// refusal it has written the response.
func (a *App) signableForm(w http.ResponseWriter, r *http.Request) (detailView, bool) {
	id, ok := ceremonyID(r)
	if !ok {
		a.errorPage(w, r, http.StatusNotFound, "No such ceremony", "The ceremony id in the address is not valid.")
		return detailView{}, false
	}
	v, ref := a.signTarget(r.Context(), id, true)
	if ref != nil {
		a.refuseForm(w, r, v, ref)
		return v, false
	}
	if why := needsKey(v.State.Spec, viewerFrom(r.Context()), id); why != "" {
		a.log.Warn("form signature refused: a key is needed", "ceremony", id, "viewer", viewerFrom(r.Context()).ID)
		v.SignError = why
		a.renderDetail(w, r, http.StatusUnprocessableEntity, v)
		return v, false
	}
	return v, true
}

// checkTicket verifies a ticket against the viewer and the ceremony's current
// spec (signTarget has authorized the viewer against its state). It returns a
// plain reason when the ticket cannot be used.
func (a *App) checkTicket(raw string, v detailView, me *viewer) (signTicket, statement.Statement, string) {
	var t signTicket
	if err := a.cookies.decode(ticketName, raw, &t); err != nil {
		return t, statement.Statement{}, "The signing form was not valid. Review the ceremony again."
	}
	if a.cfg.Now().Unix() > t.Expires {
		return t, statement.Statement{}, "The review expired. Review the ceremony again."
	}
	if t.WitnessID != me.ID || t.CeremonyID != v.ID {
		return t, statement.Statement{}, "This signing form belongs to someone else or another ceremony."
	}
	st, err := statement.Parse([]byte(t.Statement))
	if err != nil {
		return t, st, "The statement was not valid. Review the ceremony again."
	}
	if why := st.Matches(v.State.Spec, me.ID, t.Decision, t.Comment); why != "" {
		return t, st, "The ceremony changed since you reviewed it (" + why + "). Review it again before signing."
	}
	return t, st, ""
}

// signConfirm sends a session-authenticated signature (witnesses without passkeys).
func (a *App) signConfirm(w http.ResponseWriter, r *http.Request) {
	v, ok := a.signableForm(w, r)
	if !ok {
		return
	}
	me := viewerFrom(r.Context())
	fail := func(code int, msg string) {
		v.SignError = msg
		a.renderDetail(w, r, code, v)
	}
	if len(webauthnCredentials(me.Witness)) > 0 {
		fail(http.StatusForbidden, "You have a registered passkey, so your signature must be made with it.")
		return
	}
	t, _, why := a.checkTicket(r.PostFormValue("ticket"), v, me)
	if why != "" {
		fail(http.StatusConflict, why)
		return
	}
	_, msg, code := a.sendSign(r.Context(), v.ID, t, nil)
	if msg != "" {
		fail(code, msg)
		return
	}
	http.Redirect(w, r, signedURL(v.ID), http.StatusSeeOther)
}

// sendSign sends the `sign` update; on refusal it returns a message for people.
func (a *App) sendSign(ctx context.Context, id string, t signTicket, proof *contract.Proof) (contract.State, string, int) {
	return a.sendSignVia(ctx, id, t, proof, "web")
}

// messageKey is the idempotency key a signature is sent to the workflow with:
// the caller's key scoped to the channel and the witness, so keys cannot collide.
func messageKey(via, witnessID, key string) string { return via + ":" + witnessID + ":" + key }

// answeredBefore finds whether the ceremony already accepted the signature sent
// with this message key, and then the state to answer with (live, or as the Ops
// DB has it): a retry of an accepted request gets the answer the first one got,
// as the workflow gives it, even once the ceremony has reached quorum or closed.
func (a *App) answeredBefore(ctx context.Context, v detailView, key string) (contract.State, bool) {
	sigs, err := a.store.Signatures(ctx, v.ID)
	if err != nil || !slices.ContainsFunc(sigs, func(s store.Signature) bool { return s.IdempotencyKey == key }) {
		return contract.State{}, false
	}
	if st, err := a.cer.Status(ctx, v.ID); err == nil {
		return st, true
	}
	return v.State, true
}

func (a *App) sendSignVia(ctx context.Context, id string, t signTicket, proof *contract.Proof, via string) (contract.State, string, int) {
	stmt := t.Statement
	if proof == nil {
		// Unsigned (session) decisions carry no statement: the contract reads a
		// statement without a proof as an unsigned claim and refuses it.
		stmt = ""
	}
	req := contract.SignRequest{
		// The key comes from the rendered form, so submitting the same form twice is
		// one signature; it is scoped to the witness so keys cannot collide.
		IdempotencyKey: messageKey(via, t.WitnessID, t.Key),
		WitnessID:      t.WitnessID, Decision: t.Decision, Comment: t.Comment,
		Statement: stmt, Proof: proof, Via: via,
	}
	if proof == nil {
		if err := a.vouch(ctx, id, &req); err != nil {
			if errors.Is(err, errAccessEnded) {
				a.log.Warn("no vouch: the session or token has ended", "ceremony", id, "witness", t.WitnessID)
				return contract.State{}, "Your session or API token has ended, so nothing was signed. Log in again (or use a token in force) and sign again.", http.StatusUnauthorized
			}
			a.log.Error("vouch for a signature", "ceremony", id, "witness", t.WitnessID, "err", err)
			return contract.State{}, "Your signature could not be prepared (" + plainError(err) + "). Try again in a moment.", http.StatusServiceUnavailable
		}
	}
	ctx, cancel := context.WithTimeout(ctx, ceremonyclient.WaitTimeout)
	defer cancel()
	st, err := a.cer.Sign(ctx, id, req)
	if err != nil {
		if rj, ok := asRejection(err); ok {
			a.log.Info("signature refused by the workflow", "ceremony", id, "witness", t.WitnessID, "code", rj.Code, "reason", rj.Reason)
			return st, "Your signature was not accepted: " + rj.Reason, http.StatusConflict
		}
		if isNotFound(err) {
			return st, "The ceremony's workflow no longer exists, so it cannot be signed.", http.StatusNotFound
		}
		a.log.Error("send sign update", "ceremony", id, "witness", t.WitnessID, "err", err)
		return st, "Your signature could not be confirmed (" + plainError(err) + "). Reload the page to see whether it was recorded before trying again.", http.StatusServiceUnavailable
	}
	a.log.Info("signature accepted", "ceremony", id, "witness", t.WitnessID, "decision", t.Decision, "status", st.Status, "via", via)
	a.notifyChanged(id)
	return st, "", http.StatusOK
}

// passkeySignRequest is what app.js posts after navigator.credentials.get.
type passkeySignRequest struct {
	Ticket     string          `json:"ticket"`
	Credential json.RawMessage `json:"credential"`
}

// signPasskey verifies a WebAuthn assertion over the reviewed statement and sends
// the signature with the proof. It answers JSON (the page's script reads it).
func (a *App) signPasskey(w http.ResponseWriter, r *http.Request) {
	id, ok := ceremonyID(r)
	if !ok {
		problem(w, http.StatusNotFound, "no such ceremony", "The ceremony id in the address is not valid.")
		return
	}
	me := viewerFrom(r.Context())
	v, ref := a.signTarget(r.Context(), id, true)
	if ref != nil {
		refuseJSON(w, ref)
		return
	}
	var in passkeySignRequest
	if !readJSON(w, r, &in, "The signature could not be read.") {
		return
	}
	t, _, why := a.checkTicket(in.Ticket, v, me)
	if why != "" {
		problem(w, http.StatusConflict, "statement no longer valid", why)
		return
	}
	if t.WebAuthn == nil || t.Nonce == "" {
		problem(w, http.StatusBadRequest, "not a passkey review", "Review the ceremony again and sign with your passkey.")
		return
	}
	proof, signCount, err := a.finishPasskeySign(me, *t.WebAuthn, []byte(t.Statement), t.Nonce, in.Credential)
	if err != nil {
		a.log.Warn("passkey assertion refused", "ceremony", id, "witness", me.ID, "err", err)
		problem(w, http.StatusForbidden, "passkey signature not valid", "Your passkey's signature could not be verified, so nothing was signed.")
		return
	}
	if err := a.store.RecordSignCount(r.Context(), me.ID, proof.KeyID, signCount); err != nil {
		// The counter only guards against cloned authenticators; not saving it
		// must not lose a valid signature.
		a.log.Warn("save passkey sign counter", "witness", me.ID, "err", err)
	}
	_, msg, code := a.sendSign(r.Context(), id, t, proof)
	if msg != "" {
		problem(w, code, "signature not accepted", msg)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"redirect": signedURL(id)})
}

// signedURL is where a recorded signature leads: the ceremony page, with the
// confirmation at its top.
func signedURL(id string) string { return "/ceremonies/" + id + "?signed=1" }

var errCloned = errors.New("the authenticator's signature counter went backwards (possible cloned passkey)")
