package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
)

// API bearer tokens: "gh2." + an HMAC-signed payload naming the witness, an
// expiry and the secret id of the token's row in the Ops DB (sessions.go),
// issued on the account page and shown once. A token works while its row is
// live: it ends when it expires, when its holder revokes it, when an admin ends
// it, or when its holder is deactivated. "gh1." tokens (before tokens had rows)
// are refused with a word on what to do.
const (
	tokenPrefix    = "gh2."
	oldTokenPrefix = "gh1."
	tokenName      = "api-token"
	tokenTTL       = 30 * 24 * time.Hour
)

type apiToken struct {
	WitnessID string `json:"w"`
	Expires   int64  `json:"e"`
	ID        string `json:"j"` // the secret id of the token's row
}

// issueToken records a new token for the viewer and returns it.
func (a *App) issueToken(r *http.Request, witnessID, label string) (string, time.Time, error) {
	tok, ws, err := NewToken(a.cfg.SessionSecret, witnessID, label, a.cfg.Now(), tokenTTL)
	if err != nil {
		return "", time.Time{}, err
	}
	ws.UserAgent, ws.ClientIP = truncate(r.UserAgent(), maxUserAgent), middleware.GetClientIP(r.Context())
	if err := a.store.CreateWebSessions(r.Context(), ws); err != nil {
		return "", time.Time{}, err
	}
	return tok, ws.ExpiresAt, nil
}

func (c *cookieCodec) token(witnessID, secretID string, exp time.Time) (string, error) {
	v, err := c.encode(tokenName, apiToken{WitnessID: witnessID, Expires: exp.Unix(), ID: secretID})
	if err != nil {
		return "", err
	}
	return tokenPrefix + v, nil
}

// parseToken checks a token's signature and expiry; its row is checked after.
func (a *App) parseToken(tok string) (apiToken, bool) {
	var t apiToken
	raw, ok := strings.CutPrefix(tok, tokenPrefix)
	if !ok || a.cookies.decode(tokenName, raw, &t) != nil || t.WitnessID == "" || t.ID == "" || a.cfg.Now().Unix() > t.Expires {
		return t, false
	}
	return t, true
}

func (a *App) createToken(w http.ResponseWriter, r *http.Request) {
	me := viewerFrom(r.Context())
	label := strings.TrimSpace(r.PostFormValue("label"))
	if label == "" {
		label = "API token " + a.cfg.Now().UTC().Format("2006-01-02")
	}
	tok, exp, err := a.issueToken(r, me.ID, truncate(label, rules.MaxLabel))
	if err != nil {
		a.log.Error("issue an API token", "witness", me.ID, "err", err)
		a.errorPage(w, r, http.StatusServiceUnavailable, "Token not created", "The token could not be created. Try again in a moment.")
		return
	}
	a.log.Info("API token issued", "witness", me.ID, "expires", exp)
	w.Header().Set("Cache-Control", "no-store")
	a.renderAccount(w, r, http.StatusOK, accountView{Token: tok, TokenExp: exp}, "")
}

// publicKeys lists a witness's registered keys as the statement package
// verifies them.
func publicKeys(w *store.Witness) []statement.PublicKey {
	if w == nil {
		return nil
	}
	out := make([]statement.PublicKey, 0, len(w.Credentials))
	for _, c := range w.Credentials {
		out = append(out, statement.PublicKey{WitnessID: w.ID, Type: c.Type, KeyID: c.KeyID, PublicKey: c.PublicKey})
	}
	return out
}

// keyChallenge issues a challenge for the viewer to sign with the ed25519 key
// they register (proof of possession, store.AddProvenKey).
func (a *App) keyChallenge(w http.ResponseWriter, r *http.Request) {
	me := viewerFrom(r.Context())
	c, err := a.store.NewKeyChallenge(r.Context(), me.ID)
	if err != nil {
		a.dbError(w, r, "issue a key challenge", err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	a.renderAccount(w, r, http.StatusOK, accountView{KeyChallenge: c.String()}, "")
}

// addEd25519Key registers an ed25519 key for API and CLI signing with the proof
// `guildhall prove-key` made for the viewer's challenge.
func (a *App) addEd25519Key(w http.ResponseWriter, r *http.Request) {
	me := viewerFrom(r.Context())
	refuse := func(code int, msg string) {
		a.renderAccount(w, r, code, accountView{KeyChallenge: r.PostFormValue("challenge")}, msg)
	}
	proof := strings.TrimSpace(r.PostFormValue("proof"))
	if proof == "" {
		refuse(http.StatusUnprocessableEntity, "A key is added with a proof that you hold its private key: ask for a challenge, "+
			"sign it with `guildhall prove-key`, and paste what it prints.")
		return
	}
	p, err := statement.ParsePossession(proof)
	if err != nil {
		refuse(http.StatusUnprocessableEntity, "That is not a key proof: "+err.Error()+".")
		return
	}
	label := truncate(strings.TrimSpace(r.PostFormValue("label")), rules.MaxLabel)
	c, err := a.store.AddProvenKey(r.Context(), me.ID, p, label, me.ID)
	var kpe *store.KeyProofError
	switch {
	case errors.As(err, &kpe):
		a.log.Warn("ed25519 key refused", "witness", me.ID, "why", kpe.Reason)
		refuse(http.StatusUnprocessableEntity, "The key was not added: "+kpe.Reason+".")
		return
	case errors.Is(err, store.ErrKeyTaken):
		a.log.Warn("ed25519 key refused: registered to another person", "witness", me.ID, "key", p.Statement.KeyID)
		refuse(http.StatusConflict, "The key was not added: it is registered to another person. Make a key of your own with `guildhall keygen`.")
		return
	case err != nil:
		a.dbError(w, r, "save ed25519 key", err)
		return
	}
	a.log.Info("ed25519 key registered", "witness", me.ID, "key", c.KeyID)
	http.Redirect(w, r, "/account#api-access", http.StatusSeeOther)
}

func keysOf(w *store.Witness, typ string) []store.Credential {
	var out []store.Credential
	for _, c := range w.Credentials {
		if c.Type == typ {
			out = append(out, c)
		}
	}
	return out
}
