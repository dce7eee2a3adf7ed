package statement

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/guildhouse/guildhall/contract"
)

// Proof and key types.
const (
	KeyEd25519  = "ed25519"
	KeyWebAuthn = "webauthn"
)

// PublicKey is a witness's registered public key as verification needs it. It
// is plain JSON so it travels as an activity result into the workflow and sits
// in evidence bundles.
type PublicKey struct {
	WitnessID string `json:"witnessId"`
	Type      string `json:"type"`  // "ed25519" or "webauthn"
	KeyID     string `json:"keyId"` // see the package comment
	// PublicKey is base64 (std): the raw 32 bytes for ed25519, the COSE key for
	// WebAuthn.
	PublicKey string `json:"publicKey"`
}

// KeyID names an ed25519 public key.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return KeyEd25519 + ":" + hex.EncodeToString(sum[:8])
}

// NewPublicKey describes an ed25519 key of a witness.
func NewPublicKey(witnessID string, pub ed25519.PublicKey) PublicKey {
	return PublicKey{WitnessID: witnessID, Type: KeyEd25519, KeyID: KeyID(pub), PublicKey: base64.StdEncoding.EncodeToString(pub)}
}

// ParseEd25519PublicKey reads a public key given as base64 (std or url, with or
// without padding) of the raw 32 bytes, or as a PEM/DER "PUBLIC KEY".
func ParseEd25519PublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if blk, _ := pem.Decode([]byte(s)); blk != nil {
		return fromPKIX(blk.Bytes)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) == ed25519.PublicKeySize {
			return ed25519.PublicKey(b), nil
		}
		if k, err := fromPKIX(b); err == nil {
			return k, nil
		}
	}
	return nil, errors.New("not an ed25519 public key: give the base64 of the 32-byte key (as `guildhall keygen` prints it) or a PEM PUBLIC KEY")
}

func fromPKIX(der []byte) (ed25519.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("not a public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key is %T, not ed25519", k)
	}
	return pub, nil
}

// Sign signs a canonical statement with an ed25519 private key.
func Sign(priv ed25519.PrivateKey, statement []byte) *contract.Proof {
	pub := priv.Public().(ed25519.PublicKey)
	return &contract.Proof{Type: KeyEd25519, KeyID: KeyID(pub), Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, statement))}
}

// WebAuthnChallenge binds a nonce to the statement; see the package comment.
func WebAuthnChallenge(statement, nonce []byte) []byte {
	sd := sha256.Sum256(statement)
	h := sha256.New()
	h.Write([]byte("guildhall/webauthn/v1"))
	h.Write([]byte{0})
	h.Write(nonce)
	h.Write(sd[:])
	return h.Sum(nil)
}

// VerifyProof checks that proof is a valid signature over statement by one of
// keys (matched by key id). The error says why not, in words a witness can act on.
func VerifyProof(statement []byte, proof *contract.Proof, keys []PublicKey) error {
	if proof == nil {
		return errors.New("the statement is not signed")
	}
	var key *PublicKey
	for i := range keys {
		if keys[i].KeyID == proof.KeyID && keys[i].Type == proof.Type {
			key = &keys[i]
			break
		}
	}
	if key == nil {
		return fmt.Errorf("the %s key %q is not registered for this witness (registered: %s)", proof.Type, proof.KeyID, keyList(keys))
	}
	switch proof.Type {
	case KeyEd25519:
		return verifyEd25519(statement, proof, *key)
	case KeyWebAuthn:
		return verifyWebAuthn(statement, proof, *key)
	default:
		return fmt.Errorf("proof type %q is not supported (use ed25519 or webauthn)", proof.Type)
	}
}

func keyList(keys []PublicKey) string {
	if len(keys) == 0 {
		return "none"
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.KeyID
	}
	return strings.Join(ids, ", ")
}

func verifyEd25519(statement []byte, proof *contract.Proof, key PublicKey) error {
	pub, err := base64.StdEncoding.DecodeString(key.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("registered key %s is not a valid ed25519 public key", key.KeyID)
	}
	if KeyID(pub) != key.KeyID {
		return fmt.Errorf("registered key %s does not match its key id", key.KeyID)
	}
	sig, err := base64.StdEncoding.DecodeString(proof.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("the signature is not 64 bytes of base64")
	}
	if !ed25519.Verify(pub, statement, sig) {
		return fmt.Errorf("the signature does not verify with key %s of %s: the statement was altered or signed with another key", key.KeyID, key.WitnessID)
	}
	return nil
}

// verifyWebAuthn checks an assertion without relying-party configuration: the
// challenge must bind this statement, the user must have been present, and the
// registered credential must have signed it. Origin and RP id are checked by the
// web app when it receives the assertion.
func verifyWebAuthn(statement []byte, proof *contract.Proof, key PublicKey) error {
	authData, err1 := base64.StdEncoding.DecodeString(proof.AuthenticatorData)
	clientData, err2 := base64.StdEncoding.DecodeString(proof.ClientDataJSON)
	sig, err3 := base64.StdEncoding.DecodeString(proof.Signature)
	nonce, err4 := base64.StdEncoding.DecodeString(proof.Nonce)
	cose, err5 := base64.StdEncoding.DecodeString(key.PublicKey)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return fmt.Errorf("the passkey proof is not valid base64: %w", err)
	}
	var cd struct {
		Type      string `json:"type"`
		Challenge string `json:"challenge"`
	}
	if err := json.Unmarshal(clientData, &cd); err != nil {
		return errors.New("the passkey's client data is not JSON")
	}
	if cd.Type != "webauthn.get" {
		return fmt.Errorf("the passkey's client data is for %q, not an assertion", cd.Type)
	}
	got, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(cd.Challenge, "="))
	if err != nil || !bytes.Equal(got, WebAuthnChallenge(statement, nonce)) {
		return errors.New("the passkey signed a different challenge: it does not bind this statement")
	}
	if len(authData) < 37 || authData[32]&0x01 == 0 {
		return errors.New("the passkey assertion does not show the user was present")
	}
	pub, err := webauthncose.ParsePublicKey(cose)
	if err != nil {
		return fmt.Errorf("registered passkey %s cannot be read: %w", key.KeyID, err)
	}
	cdHash := sha256.Sum256(clientData)
	signed := append(append([]byte{}, authData...), cdHash[:]...)
	ok, err := webauthncose.VerifySignature(pub, signed, sig)
	if err != nil || !ok {
		return fmt.Errorf("the passkey signature does not verify with credential %s of %s", key.KeyID, key.WitnessID)
	}
	return nil
}

// MaxSkew is how far a statement's issuedAt may lie ahead of the verifier's
// clock, or before the ceremony opened, before it is refused.
const MaxSkew = 10 * time.Minute

// Problem is a refusal with a contract rejection code ("bad_signature").
type Problem struct {
	Code   string
	Reason string
}

func (p *Problem) Error() string { return p.Code + ": " + p.Reason }

func badSignature(format string, args ...any) error {
	return &Problem{Code: "bad_signature", Reason: fmt.Sprintf(format, args...)}
}

// VerifyRequest is the sign validator's check: it decides whether req's
// statement and proof are acceptable for the ceremony in state, given every
// registered key of the witnesses (keys of other witnesses are ignored, so a
// foreign key is refused). now is the workflow's clock.
//
// A witness with registered keys must sign; one without may send an unsigned,
// session-authenticated decision. A statement must describe exactly this
// decision on the current spec, be issued no later than now+MaxSkew and no
// earlier than the ceremony's opening−MaxSkew (there is no maximum age, so
// offline witnesses may take their time). Deterministic: no I/O, no clock.
func VerifyRequest(state contract.State, req contract.SignRequest, keys []PublicKey, now time.Time) error {
	var own []PublicKey
	for _, k := range keys {
		if k.WitnessID == req.WitnessID {
			own = append(own, k)
		}
	}
	if req.Statement == "" && req.Proof == nil {
		if len(own) > 0 {
			return badSignature("%s has registered signing keys (%s), so the decision must carry a signed statement: sign it with a passkey in the web app or with `guildhall sign`",
				req.WitnessID, keyList(own))
		}
		return nil
	}
	if req.Statement == "" {
		return badSignature("the proof has no statement: send the canonical statement that was signed")
	}
	if req.Proof == nil {
		return badSignature("the statement is not signed: add a proof")
	}
	st, err := Parse([]byte(req.Statement))
	if err != nil {
		return badSignature("%v", err)
	}
	if why := st.Matches(state.Spec, req.WitnessID, req.Decision, req.Comment); why != "" {
		return badSignature("the statement does not match this ceremony: %s; prepare and sign a new one", why)
	}
	issued, err := st.Issued()
	if err != nil {
		return badSignature("%v", err)
	}
	if issued.After(now.Add(MaxSkew)) {
		return badSignature("the statement is dated %s, in the future: check the signing machine's clock", st.IssuedAt)
	}
	if !state.OpenedAt.IsZero() && issued.Before(state.OpenedAt.Add(-MaxSkew)) {
		return badSignature("the statement is dated %s, before the ceremony opened", st.IssuedAt)
	}
	if len(own) == 0 {
		return badSignature("%s has no registered signing key to check the signature with: register one first (`guildhall witness add-key`)", req.WitnessID)
	}
	if err := VerifyProof([]byte(req.Statement), req.Proof, own); err != nil {
		return badSignature("%v", err)
	}
	return nil
}

// KeyFile is the JSON an ed25519 witness key is kept in (`guildhall keygen`).
// The private key is secret: the file is written mode 0600.
type KeyFile struct {
	Type       string `json:"type"` // "ed25519"
	WitnessID  string `json:"witnessId"`
	KeyID      string `json:"keyId"`
	PublicKey  string `json:"publicKey"`  // base64 (std), 32 bytes
	PrivateKey string `json:"privateKey"` // base64 (std) of the 32-byte seed
	Created    string `json:"created,omitempty"`
}

// GenerateKey makes a new ed25519 key for a witness, reading randomness from r
// (crypto/rand.Reader in use; a fixed reader in tests).
func GenerateKey(witnessID string, r io.Reader, now time.Time) (KeyFile, ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return KeyFile{}, nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return KeyFile{Type: KeyEd25519, WitnessID: witnessID, KeyID: KeyID(pub),
		PublicKey: base64.StdEncoding.EncodeToString(pub), PrivateKey: base64.StdEncoding.EncodeToString(priv.Seed()),
		Created: now.UTC().Format(time.RFC3339)}, priv, nil
}

// ParseKeyFile reads a key file: the JSON of KeyFile, or a PKCS#8 PEM private
// key (`openssl genpkey -algorithm ed25519`), in which case witnessID names its
// owner. The public key and key id are recomputed, never trusted.
func ParseKeyFile(b []byte, witnessID string) (KeyFile, ed25519.PrivateKey, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return KeyFile{}, nil, fmt.Errorf("PEM key file: %w", err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return KeyFile{}, nil, fmt.Errorf("PEM key is %T, not ed25519", k)
		}
		if witnessID == "" {
			return KeyFile{}, nil, errors.New("a PEM key file does not say whose key it is: name the witness")
		}
		pub := priv.Public().(ed25519.PublicKey)
		return KeyFile{Type: KeyEd25519, WitnessID: witnessID, KeyID: KeyID(pub),
			PublicKey: base64.StdEncoding.EncodeToString(pub), PrivateKey: base64.StdEncoding.EncodeToString(priv.Seed())}, priv, nil
	}
	var kf KeyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return kf, nil, fmt.Errorf("key file is neither guildhall key JSON nor a PEM private key: %w", err)
	}
	if kf.Type != KeyEd25519 {
		return kf, nil, fmt.Errorf("key type %q is not ed25519", kf.Type)
	}
	seed, err := base64.StdEncoding.DecodeString(kf.PrivateKey)
	if err != nil || len(seed) != ed25519.SeedSize {
		return kf, nil, errors.New("privateKey is not the base64 of a 32-byte ed25519 seed")
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	if kf.PublicKey != "" && kf.PublicKey != base64.StdEncoding.EncodeToString(pub) {
		return kf, nil, errors.New("publicKey does not belong to privateKey: the key file is damaged")
	}
	if witnessID != "" && kf.WitnessID != "" && witnessID != kf.WitnessID {
		return kf, nil, fmt.Errorf("the key file belongs to %s, not %s", kf.WitnessID, witnessID)
	}
	if kf.WitnessID == "" {
		kf.WitnessID = witnessID
	}
	kf.PublicKey, kf.KeyID = base64.StdEncoding.EncodeToString(pub), KeyID(pub)
	return kf, priv, nil
}
