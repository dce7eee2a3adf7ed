package web

import (
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
)

// API bearer tokens are stateless: "gh1." + an HMAC-signed payload naming the
// witness and an expiry, issued on the account page and shown once. They end
// when they expire or when the session secret is rotated (which revokes all).
const (
	tokenPrefix = "gh1."
	tokenName   = "api-token"
	tokenTTL    = 30 * 24 * time.Hour
)

type apiToken struct {
	WitnessID string `json:"w"`
	Expires   int64  `json:"e"`
	ID        string `json:"j"` // random, for audit logs
}

func (a *App) issueToken(witnessID string) (string, time.Time, error) {
	exp := a.cfg.Now().Add(tokenTTL)
	tok, err := a.cookies.token(witnessID, exp)
	return tok, exp, err
}

// IssueToken mints an API bearer token for witnessID, valid for ttl, signed
// with the web app's session secret exactly as the account page signs it. It is
// for tools that act as many witnesses at once through the API (the benchmark,
// the security tests) and cannot go through the rate-limited account page; a
// negative ttl makes an expired token.
func IssueToken(secret []byte, witnessID string, ttl time.Duration) (string, error) {
	return newCookieCodec(secret).token(witnessID, time.Now().Add(ttl))
}

func (c *cookieCodec) token(witnessID string, exp time.Time) (string, error) {
	v, err := c.encode(tokenName, apiToken{WitnessID: witnessID, Expires: exp.Unix(), ID: randomHex(8)})
	if err != nil {
		return "", err
	}
	return tokenPrefix + v, nil
}

func (a *App) parseToken(tok string) (apiToken, bool) {
	var t apiToken
	raw, ok := strings.CutPrefix(tok, tokenPrefix)
	if !ok || a.cookies.decode(tokenName, raw, &t) != nil || t.WitnessID == "" || a.cfg.Now().Unix() > t.Expires {
		return t, false
	}
	return t, true
}

func (a *App) createToken(w http.ResponseWriter, r *http.Request) {
	me := viewerFrom(r.Context())
	if me.Witness == nil {
		a.errorPage(w, r, http.StatusForbidden, "Not a witness", "Only registered witnesses can create API tokens.")
		return
	}
	tok, exp, err := a.issueToken(me.ID)
	if err != nil {
		a.errorPage(w, r, http.StatusInternalServerError, "Token not created", "The token could not be created. Try again.")
		return
	}
	a.log.Info("API token issued", "witness", me.ID, "expires", exp)
	w.Header().Set("Cache-Control", "no-store")
	a.render(w, r, http.StatusOK, accountPage(a.meta(r, "Your account"), accountView{Witness: me.Witness, Token: tok, TokenExp: exp, PasskeysOff: a.webauthn == nil}))
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

// addEd25519Key registers a raw ed25519 public key (base64) for API signing.
func (a *App) addEd25519Key(w http.ResponseWriter, r *http.Request) {
	me := viewerFrom(r.Context())
	if me.Witness == nil {
		a.errorPage(w, r, http.StatusForbidden, "Not a witness", "Only registered witnesses can add keys.")
		return
	}
	raw, err := statement.ParseEd25519PublicKey(r.PostFormValue("public_key"))
	if err != nil {
		a.render(w, r, http.StatusUnprocessableEntity, accountPageErr(a.meta(r, "Your account"), accountView{Witness: me.Witness, PasskeysOff: a.webauthn == nil},
			"That is not an ed25519 public key: give the base64 of the 32-byte key (as `guildhall keygen` prints it) or a PEM PUBLIC KEY."))
		return
	}
	id := statement.KeyID(raw)
	// Registering a key already held is a no-op (AddCredential is idempotent).
	label := strings.TrimSpace(r.PostFormValue("label"))
	if len(label) > 60 {
		label = label[:60]
	}
	if err := a.store.AddCredential(r.Context(), me.ID, store.Credential{Type: "ed25519", KeyID: id,
		PublicKey: base64.StdEncoding.EncodeToString(raw), Label: label, AddedAt: a.cfg.Now().UTC()}); err != nil {
		a.dbError(w, r, "save ed25519 key", err)
		return
	}
	a.log.Info("ed25519 key registered", "witness", me.ID, "key", id)
	http.Redirect(w, r, "/account", http.StatusSeeOther)
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
