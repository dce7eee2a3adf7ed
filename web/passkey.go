package web

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
)

// Passkeys (WebAuthn). The relying party is the public base URL: its host is the
// RP ID (an IP address cannot be one, so local runs use "localhost") and its
// origin the only accepted origin. Production needs HTTPS and the real host.

func newWebAuthn(baseURL string) (*webauthn.WebAuthn, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	return webauthn.New(&webauthn.Config{
		RPID:          u.Hostname(),
		RPDisplayName: "Guildhall",
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		},
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute, TimeoutUVD: 5 * time.Minute},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute, TimeoutUVD: 5 * time.Minute},
		},
	})
}

// passkeyUser adapts a witness to webauthn.User.
type passkeyUser struct{ w *store.Witness }

// WebAuthnID is an opaque, stable user handle: a hash, so the authenticator
// never stores the witness's e-mail.
func (u passkeyUser) WebAuthnID() []byte {
	sum := sha256.Sum256([]byte("guildhall/witness/" + u.w.ID))
	return sum[:]
}
func (u passkeyUser) WebAuthnName() string        { return u.w.ID }
func (u passkeyUser) WebAuthnDisplayName() string { return u.w.DisplayName }
func (u passkeyUser) WebAuthnCredentials() []webauthn.Credential {
	return webauthnCredentials(u.w)
}

// webauthnCredentials converts a witness's stored passkeys for go-webauthn.
func webauthnCredentials(w *store.Witness) []webauthn.Credential {
	if w == nil {
		return nil
	}
	var out []webauthn.Credential
	for _, c := range w.Credentials {
		if c.Type != "webauthn" {
			continue
		}
		id, err1 := base64.RawURLEncoding.DecodeString(c.KeyID)
		pk, err2 := base64.StdEncoding.DecodeString(c.PublicKey)
		if err1 != nil || err2 != nil {
			continue
		}
		var aaguid []byte
		if c.AAGUID != "" {
			aaguid, _ = base64.StdEncoding.DecodeString(c.AAGUID)
		}
		out = append(out, webauthn.Credential{ID: id, PublicKey: pk, AttestationType: "none",
			Authenticator: webauthn.Authenticator{AAGUID: aaguid, SignCount: c.SignCount}})
	}
	return out
}

// passkeyRegTicket carries the registration challenge between begin and finish.
type passkeyRegTicket struct {
	WitnessID string               `json:"w"`
	Session   webauthn.SessionData `json:"s"`
	Expires   int64                `json:"e"`
}

const regTicketName = "passkey-registration"

// passkeyRegistrant is the viewer registering a passkey; it refuses (and has
// answered) when passkeys are off.
func (a *App) passkeyRegistrant(w http.ResponseWriter, r *http.Request) (*viewer, bool) {
	me := viewerFrom(r.Context())
	if a.webauthn == nil {
		problem(w, http.StatusServiceUnavailable, "passkeys unavailable", passkeysOffText)
		return me, false
	}
	return me, true
}

// passkeyBegin starts a registration: it answers the creation options and a
// signed ticket holding the challenge.
func (a *App) passkeyBegin(w http.ResponseWriter, r *http.Request) {
	me, ok := a.passkeyRegistrant(w, r)
	if !ok {
		return
	}
	u := passkeyUser{me.Witness}
	var exclude []protocol.CredentialDescriptor
	for _, c := range u.WebAuthnCredentials() {
		exclude = append(exclude, c.Descriptor())
	}
	opts, session, err := a.webauthn.BeginRegistration(u, webauthn.WithExclusions(exclude))
	if err != nil {
		a.log.Error("begin passkey registration", "witness", me.ID, "err", err)
		problem(w, http.StatusInternalServerError, "registration unavailable", "Passkey registration could not be started.")
		return
	}
	tok, err := a.cookies.encode(regTicketName, passkeyRegTicket{WitnessID: me.ID, Session: *session, Expires: a.cfg.Now().Add(5 * time.Minute).Unix()})
	if err != nil {
		problem(w, http.StatusInternalServerError, "registration unavailable", "Passkey registration could not be started.")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"publicKey": opts.Response, "ticket": tok})
}

type passkeyFinishRequest struct {
	Ticket     string          `json:"ticket"`
	Label      string          `json:"label"`
	Credential json.RawMessage `json:"credential"`
}

// passkeyFinish verifies the attestation and stores the new passkey.
func (a *App) passkeyFinish(w http.ResponseWriter, r *http.Request) {
	me, ok := a.passkeyRegistrant(w, r)
	if !ok {
		return
	}
	var in passkeyFinishRequest
	if !readJSON(w, r, &in, "The new passkey could not be read.") {
		return
	}
	var t passkeyRegTicket
	if err := a.cookies.decode(regTicketName, in.Ticket, &t); err != nil || t.WitnessID != me.ID || a.cfg.Now().Unix() > t.Expires {
		problem(w, http.StatusBadRequest, "registration expired", "The registration expired or was not valid. Start again.")
		return
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(in.Credential)
	if err != nil {
		problem(w, http.StatusBadRequest, "passkey not valid", "The authenticator's answer could not be read.")
		return
	}
	cred, err := a.webauthn.CreateCredential(passkeyUser{me.Witness}, t.Session, parsed)
	if err != nil {
		a.log.Warn("passkey registration refused", "witness", me.ID, "err", err)
		problem(w, http.StatusBadRequest, "passkey not valid", "The new passkey could not be verified.")
		return
	}
	label := truncate(strings.TrimSpace(in.Label), rules.MaxLabel)
	if label == "" {
		label = "Passkey added " + a.cfg.Now().UTC().Format("2006-01-02")
	}
	// AddCredential puts the registration on the custody chain: which keys a
	// witness held, and when, is part of the evidence.
	if err := a.store.AddCredential(r.Context(), me.ID, store.Credential{
		Type: "webauthn", KeyID: base64.RawURLEncoding.EncodeToString(cred.ID),
		PublicKey: base64.StdEncoding.EncodeToString(cred.PublicKey), Label: label, AddedAt: a.cfg.Now().UTC(),
		SignCount: cred.Authenticator.SignCount, AAGUID: base64.StdEncoding.EncodeToString(cred.Authenticator.AAGUID),
	}); err != nil {
		a.log.Error("save passkey", "witness", me.ID, "err", err)
		problem(w, http.StatusServiceUnavailable, "not saved", "The passkey could not be saved. Try again.")
		return
	}
	a.log.Info("passkey registered", "witness", me.ID, "key", base64.RawURLEncoding.EncodeToString(cred.ID))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"redirect": "/account"})
}

// passkeysOffText explains why passkeys cannot be used on this instance.
const passkeysOffText = "Passkeys need the app to be served under a host name (for example http://localhost:4000), not an IP address."

// beginPasskeySign prepares an assertion whose challenge binds a fresh nonce to
// the statement (see statement.go).
func (a *App) beginPasskeySign(me *viewer, stmt []byte) (*protocol.CredentialAssertion, *webauthn.SessionData, []byte, error) {
	if a.webauthn == nil {
		return nil, nil, nil, errors.New(passkeysOffText)
	}
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, nil, err
	}
	opts, session, err := a.webauthn.BeginLogin(passkeyUser{me.Witness},
		webauthn.WithChallenge(statement.WebAuthnChallenge(stmt, nonce)),
		webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, nil, nil, err
	}
	return opts, session, nonce, nil
}

// finishPasskeySign verifies the assertion and returns the proof to keep with
// the signature, and the passkey's new sign counter.
func (a *App) finishPasskeySign(me *viewer, session webauthn.SessionData, stmt []byte, nonceB64 string, raw json.RawMessage) (*contract.Proof, uint32, error) {
	if a.webauthn == nil {
		return nil, 0, errors.New(passkeysOffText)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(raw)
	if err != nil {
		return nil, 0, fmt.Errorf("parse assertion: %w", err)
	}
	// The stored credential does not record the backup-eligible flag yet, so
	// take it from this assertion; the signature, origin, RP and challenge checks
	// are unaffected.
	user := passkeyUser{me.Witness}
	creds := user.WebAuthnCredentials()
	for i := range creds {
		creds[i].Flags.BackupEligible = parsed.Response.AuthenticatorData.Flags.HasBackupEligible()
	}
	cred, err := a.webauthn.ValidateLogin(fixedCreds{user, creds}, session, parsed)
	if err != nil {
		return nil, 0, fmt.Errorf("verify assertion: %w", err)
	}
	if cred.Authenticator.CloneWarning {
		return nil, 0, errCloned
	}
	keyID := base64.RawURLEncoding.EncodeToString(cred.ID)
	var pub string
	for _, c := range me.Witness.Credentials {
		if c.Type == "webauthn" && c.KeyID == keyID {
			pub = c.PublicKey
		}
	}
	if pub == "" {
		return nil, 0, errors.New("credential not registered")
	}
	r := parsed.Raw.AssertionResponse
	if !bytes.Equal(parsed.RawID, cred.ID) {
		return nil, 0, errors.New("credential id mismatch")
	}
	proof := &contract.Proof{
		Type: "webauthn", KeyID: keyID,
		Signature:         base64.StdEncoding.EncodeToString(r.Signature),
		AuthenticatorData: base64.StdEncoding.EncodeToString(r.AuthenticatorData),
		ClientDataJSON:    base64.StdEncoding.EncodeToString(r.ClientDataJSON),
		Nonce:             nonceB64,
	}
	// What is kept must verify offline, without this server: check it the way an
	// evidence verifier will.
	if err := statement.VerifyProof(stmt, proof, publicKeys(me.Witness)); err != nil {
		return nil, 0, fmt.Errorf("proof does not verify offline: %w", err)
	}
	return proof, cred.Authenticator.SignCount, nil
}

// fixedCreds overrides a user's credential list for one validation.
type fixedCreds struct {
	passkeyUser
	creds []webauthn.Credential
}

func (f fixedCreds) WebAuthnCredentials() []webauthn.Credential { return f.creds }

// removePasskey deletes one of the viewer's passkeys.
func (a *App) removePasskey(w http.ResponseWriter, r *http.Request) {
	me := viewerFrom(r.Context())
	key := r.PostFormValue("key_id")
	if !slices.ContainsFunc(me.Witness.Credentials, func(c store.Credential) bool { return c.Type == "webauthn" && c.KeyID == key }) {
		a.errorPage(w, r, http.StatusNotFound, "No such passkey", "That passkey is not registered for you.")
		return
	}
	if err := a.store.RemoveCredential(r.Context(), me.ID, key, me.ID); err != nil {
		a.dbError(w, r, "remove passkey", err)
		return
	}
	a.log.Info("passkey removed", "witness", me.ID, "key", key)
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

func passkeysOf(w *store.Witness) []store.Credential {
	var out []store.Credential
	for _, c := range w.Credentials {
		if c.Type == "webauthn" {
			out = append(out, c)
		}
	}
	return out
}

func loginVia(v string) string {
	switch v {
	case "dev":
		return "development login"
	case "oidc":
		return "your organisation's identity provider"
	}
	return v
}
