package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
)

// Every sign path (the form's review and confirm, the passkey confirm, the API's
// statement and sign) loads its ceremony with signTarget and authorizes the viewer
// with mayViewerSign; each only adds the checks of its own channel (the form's
// needsKey and ticket, a WebAuthn assertion, an ed25519 proof). Nothing reaches
// the workflow for a viewer the rules would refuse. needsKey is the form's alone:
// the passkey and API paths are how a witness who needs a key signs.

// refusal is why a sign path turned the viewer away, in plain words, with the
// HTTP status and the problem title of the JSON API.
type refusal struct {
	Status int
	Title  string // page title and JSON problem title
	Text   string
}

// mayViewerSign is the one authorizer of the sign paths: the viewer is a person
// in the directory whom rules.MaySign lets sign this ceremony in this state. A
// state read from the Ops DB row has no signatures; the workflow's own check
// then refuses a second signature. Every viewer here has a directory entry
// (requireReader); one without would stand as not active and be refused.
func mayViewerSign(me *viewer, st contract.State) *refusal {
	r := rules.MaySign(st, me.ID)
	if r == nil {
		p := me.person()
		r = rules.MayStillSign(st.Spec, me.ID, rules.Standing{Known: true, Active: p.Active, Roles: p.Roles})
	}
	switch {
	case r == nil:
		return nil
	case r.Code == rules.CodeRoleNotHeld || r.Code == rules.CodeDeactivated:
		return &refusal{http.StatusForbidden, "Cannot sign", sentence(r.Reason)}
	case r.Code == rules.CodeAlreadySigned:
		return &refusal{http.StatusConflict, "Already signed", "You have already signed this ceremony."}
	case r.Code == rules.CodeClosed:
		return &refusal{http.StatusConflict, "Ceremony closed",
			"This ceremony no longer accepts signatures (it is " + statusLabel(string(st.Status)) + ")."}
	}
	return &refusal{http.StatusForbidden, "Not a witness", "You are not a witness of this ceremony, so you cannot sign it."}
}

// signTarget is the one loader of the sign paths. live asks the workflow for its
// state (the form paths show the detail page, and a statement must be built from
// the spec in force). Otherwise the Ops DB row answers without a `status` query
// (a round trip through a worker that would double the cost of an API
// signature): the workflow's validator checks the request again against its live
// state, so a row that lags behind it can only cause a refusal that a retry
// fixes, never admit what the workflow would refuse. A ceremony whose opening is
// not recorded yet is asked live.
func (a *App) signTarget(ctx context.Context, id string, live bool) (detailView, *refusal) {
	me := viewerFrom(ctx)
	if !live {
		row, err := a.store.GetCeremony(ctx, id)
		if err == nil {
			v := detailView{Now: a.cfg.Now(), ID: id, State: stateFromRow(row), Ceremony: &row}
			return v, mayViewerSign(me, v.State)
		}
		if !isNotFound(err) {
			a.log.Warn("read ceremony row for signing; asking the workflow", "ceremony", id, "err", err)
		}
	}
	v, code, err := a.detailData(ctx, id)
	switch {
	case err != nil && code == http.StatusNotFound:
		return v, &refusal{code, "No such ceremony", "No ceremony with this id exists. It may not have been opened yet."}
	case err != nil:
		a.log.Error("load ceremony for signing", "ceremony", id, "err", err)
		return v, &refusal{code, "Temporarily unavailable", "The ceremony could not be loaded (" + plainError(err) + "). Try again in a moment."}
	case !v.Live:
		return v, &refusal{http.StatusServiceUnavailable, "Temporarily unavailable",
			"The ceremony's live state cannot be read right now, so it cannot be signed. Try again in a moment."}
	}
	if ref := mayViewerSign(me, v.State); ref != nil {
		if ref.Status == http.StatusForbidden {
			a.log.Warn("signature refused: not a witness of this ceremony", "ceremony", id, "viewer", me.ID)
		}
		return v, ref
	}
	return v, nil
}

// problemTitle is the refusal's title in the JSON API's lower-case style.
func (r *refusal) problemTitle() string { return strings.ToLower(r.Title) }

// refuseJSON answers a JSON sign path's refusal.
func refuseJSON(w http.ResponseWriter, ref *refusal) {
	problem(w, ref.Status, ref.problemTitle(), ref.Text)
}

// refuseForm answers a form sign path's refusal: the detail page with the reason
// at the form when the viewer is a witness the state turned away (closed, signed
// already), an error page otherwise.
func (a *App) refuseForm(w http.ResponseWriter, r *http.Request, v detailView, ref *refusal) {
	if ref.Status == http.StatusConflict && v.State.CeremonyID != "" {
		v.SignError = ref.Text
		a.renderDetail(w, r, ref.Status, v)
		return
	}
	a.errorPage(w, r, ref.Status, ref.Title, ref.Text)
}

// readJSON decodes the JSON body the page's script posted into v; on failure it
// answers 400 with what could not be read and returns false.
func readJSON(w http.ResponseWriter, r *http.Request, v any, what string) bool {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		problem(w, http.StatusBadRequest, "unreadable request", what)
		return false
	}
	return true
}

// assuranceLevel is how a signature's signer was authenticated, for the page;
// "not recorded" for signatures from before assurance was.
func assuranceLevel(s contract.Signature) string {
	if s.Assurance == "" {
		return "not recorded"
	}
	return string(s.Assurance)
}

// assuranceWords says by what means, in words.
func assuranceWords(s contract.Signature) string {
	switch s.Assurance {
	case contract.AssuranceKey:
		if s.AssuranceMethod == "passkey" || (s.Proof != nil && s.Proof.Type == "webauthn") {
			return "signed with a passkey"
		}
		return "signed with an ed25519 key"
	case contract.AssuranceSession:
		if s.AssuranceMethod == "dev-login" {
			return "development login"
		}
		return "web login (" + s.AssuranceMethod + ")"
	case contract.AssuranceToken:
		return "API token"
	case contract.AssuranceOperator:
		return unvouched
	}
	if s.Proof != nil {
		return keyKind(s.Proof.Type) + "; from before assurance was recorded"
	}
	return "from before assurance was recorded"
}

// needsKeyText tells a witness without a passkey what a ceremony that demands
// key assurance needs from them.
const needsKeyText = "This ceremony needs every signature made with a registered key, and a web login is not enough. " +
	"Register a passkey on your Account page and sign here with it, or sign with your ed25519 key: guildhall sign."

// needsKey says why the web form cannot make a signature the workflow would
// accept from the viewer, and what to do instead; "" when it can. A passkey
// signs here. Without one, a witness with an ed25519 key must sign with it (the
// workflow refuses their unsigned decisions), and a ceremony demanding key
// assurance refuses a web login's.
func needsKey(spec contract.Spec, me *viewer, ceremonyID string) string {
	switch {
	case len(webauthnCredentials(me.Witness)) > 0:
		return ""
	case len(keysOf(me.Witness, "ed25519")) > 0:
		return "You have registered an ed25519 key, so your signature must be made with it, and this page cannot use it. " +
			"Sign with it on the command line: guildhall sign " + ceremonyID + " --key YOUR-KEY-FILE --decision approve (or reject) --send, " +
			"or through the API (POST /api/v1/ceremonies/" + ceremonyID + "/sign). Or register a passkey on your Account page to sign here."
	case spec.Quorum.MinAssurance == contract.AssuranceKey:
		return needsKeyText
	}
	return ""
}
