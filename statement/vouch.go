package statement

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/guildhouse/guildhall/contract"
)

// WebSigner is the owner the web app's vouching keys carry in key lists
// (PublicKey.WitnessID), so they travel with the witnesses' keys into a
// workflow but never count as a witness's own key.
const WebSigner = "guildhall:web"

// Assurance methods: how a signer was authenticated.
const (
	MethodPasskey  = "passkey"
	MethodEd25519  = "ed25519"
	MethodOIDC     = "oidc"
	MethodDevLogin = "dev-login"
	MethodAPIToken = "api-token"
)

// WebKey derives the web app's vouching key from its session secret, so every
// web replica holds the same key without another secret to distribute; a new
// secret is a new key (registered in the Ops DB at start).
func WebKey(sessionSecret []byte) (ed25519.PrivateKey, error) {
	seed, err := hkdf.Key(sha256.New, sessionSecret, nil, "guildhall web vouching key v1", ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("derive the web's vouching key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// WebPublicKey describes a vouching key as key lists carry it.
func WebPublicKey(pub ed25519.PublicKey) PublicKey {
	return PublicKey{WitnessID: WebSigner, Type: KeyEd25519, KeyID: KeyID(pub), PublicKey: base64.StdEncoding.EncodeToString(pub)}
}

// Claims are what a vouch for req on a ceremony signs.
func Claims(ceremonyID string, req contract.SignRequest, level contract.Assurance, method string, at time.Time) contract.VouchClaims {
	return contract.VouchClaims{CeremonyID: ceremonyID, WitnessID: req.WitnessID, Decision: req.Decision,
		CommentSHA256: CommentDigest(req.Comment), IdempotencyKey: req.IdempotencyKey, Level: level, Method: method, At: at.UTC()}
}

// CancelClaims are what a vouch for the cancel msg on a ceremony signs: its
// reason as recorded (RecordedReason), which is what evidence checks it against.
func CancelClaims(ceremonyID string, msg contract.Cancel, level contract.Assurance, method string, at time.Time) contract.CancelVouchClaims {
	return contract.CancelVouchClaims{Kind: contract.VouchKindCancel, CeremonyID: ceremonyID, By: msg.By,
		ReasonSHA256: CommentDigest(msg.RecordedReason()), IdempotencyKey: msg.IdempotencyKey, Level: level, Method: method, At: at.UTC()}
}

// claimsFunc builds the claims a vouch of a given level, method and time would
// sign for one message: Claims for a sign request, CancelClaims for a cancel.
type claimsFunc func(level contract.Assurance, method string, at time.Time) any

func signClaims(req contract.SignRequest, ceremonyID string) claimsFunc {
	return func(level contract.Assurance, method string, at time.Time) any {
		return Claims(ceremonyID, req, level, method, at)
	}
}

func cancelClaims(msg contract.Cancel, ceremonyID string) claimsFunc {
	return func(level contract.Assurance, method string, at time.Time) any {
		return CancelClaims(ceremonyID, msg, level, method, at)
	}
}

// SignVouch is the web app's word that it authenticated req's signer by method,
// at the given level (session or token).
func SignVouch(priv ed25519.PrivateKey, ceremonyID string, req contract.SignRequest, level contract.Assurance, method string, at time.Time) (*contract.Vouch, error) {
	return makeVouch(priv, signClaims(req, ceremonyID), level, method, at)
}

// SignCancelVouch is the web app's word that it authenticated msg.By, who
// cancels the ceremony, by method at the given level (session or token).
func SignCancelVouch(priv ed25519.PrivateKey, ceremonyID string, msg contract.Cancel, level contract.Assurance, method string, at time.Time) (*contract.Vouch, error) {
	return makeVouch(priv, cancelClaims(msg, ceremonyID), level, method, at)
}

func makeVouch(priv ed25519.PrivateKey, claims claimsFunc, level contract.Assurance, method string, at time.Time) (*contract.Vouch, error) {
	at = at.UTC()
	b, err := canonicalJSON(claims(level, method, at))
	if err != nil {
		return nil, fmt.Errorf("encode vouch: %w", err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	return &contract.Vouch{Level: level, Method: method, At: at, KeyID: KeyID(pub),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, b))}, nil
}

// Assurance decides how req's signer was authenticated: AssuranceKey when it
// carries a statement proof, else the vouch's level when a registered web key
// signed the vouch for exactly this request (ceremony, witness, decision,
// comment and idempotency key: copying it to any other request breaks it, and
// the same request again is a duplicate), else AssuranceOperator. A vouch that
// does not verify is ignored, not refused, and says why.
//
// Assurance does not verify the statement proof itself: the caller must have
// refused a request whose proof VerifyRequest rejects before asking, or the
// answer claims a key nobody proved.
func Assurance(ceremonyID string, req contract.SignRequest, keys []PublicKey) (level contract.Assurance, method, why string) {
	if req.Proof != nil && req.Statement != "" {
		if req.Proof.Type == KeyWebAuthn {
			return contract.AssuranceKey, MethodPasskey, ""
		}
		return contract.AssuranceKey, MethodEd25519, ""
	}
	return vouchAssurance(req.Vouch, signClaims(req, ceremonyID), keys)
}

// CancelAssurance decides how whoever sent the cancel msg was authenticated:
// the vouch's level when a registered web key signed it for exactly this
// cancel (ceremony, by, reason and idempotency key), else AssuranceOperator. A
// vouch that does not verify is ignored, not refused, and says why: the cancel
// is an operator's then.
func CancelAssurance(ceremonyID string, msg contract.Cancel, keys []PublicKey) (level contract.Assurance, method, why string) {
	return vouchAssurance(msg.Vouch, cancelClaims(msg, ceremonyID), keys)
}

func vouchAssurance(v *contract.Vouch, claims claimsFunc, keys []PublicKey) (level contract.Assurance, method, why string) {
	if v == nil {
		return contract.AssuranceOperator, "", ""
	}
	if why := checkVouch(v, claims, keys); why != "" {
		return contract.AssuranceOperator, "", why
	}
	return v.Level, v.Method, ""
}

// VerifyVouch checks, offline, that a recorded signature's vouch was made for it
// by the web key whose public key (base64) is given.
func VerifyVouch(ceremonyID string, s contract.Signature, publicKey string) error {
	req := contract.SignRequest{IdempotencyKey: s.IdempotencyKey, WitnessID: s.WitnessID, Decision: s.Decision, Comment: s.Comment}
	return verifyVouch(s.Vouch, signClaims(req, ceremonyID), publicKey)
}

// VerifyCancelVouch checks, offline, that a recorded cancel's vouch was made
// for it by the web key whose public key (base64) is given.
func VerifyCancelVouch(ceremonyID string, msg contract.Cancel, publicKey string) error {
	return verifyVouch(msg.Vouch, cancelClaims(msg, ceremonyID), publicKey)
}

func verifyVouch(v *contract.Vouch, claims claimsFunc, publicKey string) error {
	if v == nil {
		return fmt.Errorf("no vouch")
	}
	pub, err := base64.StdEncoding.DecodeString(publicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize || KeyID(pub) != v.KeyID {
		return fmt.Errorf("the web key given is not %s", v.KeyID)
	}
	key := PublicKey{WitnessID: WebSigner, Type: KeyEd25519, KeyID: v.KeyID, PublicKey: publicKey}
	if why := checkVouch(v, claims, []PublicKey{key}); why != "" {
		return fmt.Errorf("%s", why)
	}
	return nil
}

// checkVouch says why v is not a registered web key's vouch for the message
// whose claims are given, or "" when it is.
func checkVouch(v *contract.Vouch, claims claimsFunc, keys []PublicKey) string {
	if v.Level != contract.AssuranceSession && v.Level != contract.AssuranceToken {
		return fmt.Sprintf("a vouch may claim session or token, not %q", v.Level)
	}
	var key *PublicKey
	for i, k := range keys {
		if k.WitnessID == WebSigner && k.KeyID == v.KeyID && k.Type == KeyEd25519 {
			key = &keys[i]
		}
	}
	if key == nil {
		return fmt.Sprintf("the vouch is by %s, which is not a registered web key", v.KeyID)
	}
	pub, err := base64.StdEncoding.DecodeString(key.PublicKey)
	sig, serr := base64.StdEncoding.DecodeString(v.Signature)
	if err != nil || serr != nil || len(pub) != ed25519.PublicKeySize {
		return "the vouch or its key is not base64"
	}
	b, err := canonicalJSON(claims(v.Level, v.Method, v.At))
	if err != nil || !ed25519.Verify(pub, b, sig) {
		return "the vouch's signature does not match this request"
	}
	return ""
}
