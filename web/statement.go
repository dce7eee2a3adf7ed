package web

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/guildhouse/guildhall/contract"
)

// The canonical statement is the exact thing a witness signs. It lives here until
// a shared statement package exists; the workflow's validator must produce the
// same bytes from the same inputs, so the rules are spelled out:
//
//   - It is the RFC 8785 (JCS) canonical JSON of Statement.
//   - policyHash is the lowercase hex SHA-256 of the JCS JSON of
//     {"quorum": <contract.Quorum with veto sorted>, "witnesses": <spec witnesses
//     sorted by id, then role>} — the policy and the witness set, so adding a
//     witness or changing a minimum changes what is signed.
//   - issuedAt is when the server prepared the statement (RFC 3339, UTC, seconds).
//   - Its digest (statementDigest) is the lowercase hex SHA-256 of those bytes.
//
// A WebAuthn signature binds to it through the challenge:
//
//	challenge = SHA-256("guildhall/webauthn/v1" || 0x00 || nonce || SHA-256(statement))
//
// with nonce 32 fresh random bytes (kept in contract.Proof.Nonce, base64). An
// offline verifier recomputes the challenge from the stored statement and nonce,
// checks it equals clientDataJSON.challenge, then checks the signature over
// authenticatorData || SHA-256(clientDataJSON) with the registered public key.
// An ed25519 signature (API, CLI) is over the statement bytes themselves.

// StatementType versions the statement format.
const StatementType = "guildhall.statement/v1"

// Statement is what a witness signs.
type Statement struct {
	Type           string            `json:"type"`
	CeremonyID     string            `json:"ceremonyId"`
	Kind           string            `json:"kind"`
	ArtifactName   string            `json:"artifactName"`
	ArtifactDigest string            `json:"artifactDigest"`
	PolicyHash     string            `json:"policyHash"`
	Decision       contract.Decision `json:"decision"`
	WitnessID      string            `json:"witnessId"`
	IssuedAt       string            `json:"issuedAt"`
}

// PolicyHash hashes a spec's quorum policy and witness set.
func PolicyHash(spec contract.Spec) string {
	q := spec.Quorum
	q.Veto = slices.Clone(q.Veto)
	slices.Sort(q.Veto)
	ws := slices.Clone(spec.Witnesses)
	slices.SortFunc(ws, func(a, b contract.WitnessRef) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return strings.Compare(a.Role, b.Role)
	})
	if ws == nil {
		ws = []contract.WitnessRef{}
	}
	b, err := canonicalJSON(map[string]any{"quorum": q, "witnesses": ws})
	if err != nil {
		panic(err) // plain structs always encode
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// NewStatement builds the statement a witness signs for a decision on a spec.
func NewStatement(spec contract.Spec, witnessID string, d contract.Decision, at time.Time) Statement {
	return Statement{
		Type: StatementType, CeremonyID: spec.ID, Kind: spec.Kind,
		ArtifactName: spec.Artifact.Name, ArtifactDigest: spec.Artifact.Digest,
		PolicyHash: PolicyHash(spec), Decision: d, WitnessID: witnessID,
		IssuedAt: at.UTC().Truncate(time.Second).Format(time.RFC3339),
	}
}

// Canonical returns the statement's canonical bytes.
func (s Statement) Canonical() []byte {
	b, err := canonicalJSON(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Digest is the hex SHA-256 of the canonical bytes.
func (s Statement) Digest() string {
	sum := sha256.Sum256(s.Canonical())
	return hex.EncodeToString(sum[:])
}

// ParseStatement reads a canonical statement, refusing anything not in
// canonical form so the signed bytes and the parsed fields cannot disagree.
func ParseStatement(b []byte) (Statement, error) {
	var s Statement
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("statement is not valid: %w", err)
	}
	if s.Type != StatementType {
		return s, fmt.Errorf("statement type %q is not %q", s.Type, StatementType)
	}
	if string(s.Canonical()) != string(b) {
		return s, errors.New("statement is not in canonical form (RFC 8785)")
	}
	return s, nil
}

// Matches reports why a statement does not describe this decision on this spec
// ("" if it does). issuedAt is checked separately, against a freshness window.
func (s Statement) Matches(spec contract.Spec, witnessID string, d contract.Decision) string {
	want := NewStatement(spec, witnessID, d, time.Time{})
	switch {
	case s.CeremonyID != want.CeremonyID:
		return "it names another ceremony"
	case s.ArtifactDigest != want.ArtifactDigest || s.ArtifactName != want.ArtifactName:
		return "the artifact has changed"
	case s.Kind != want.Kind:
		return "the ceremony kind has changed"
	case s.PolicyHash != want.PolicyHash:
		return "the policy or the witness set has changed"
	case s.WitnessID != witnessID:
		return "it names another witness"
	case s.Decision != d:
		return "it records another decision"
	}
	return ""
}

// WebAuthnChallenge binds a nonce to the statement.
func WebAuthnChallenge(statement []byte, nonce []byte) []byte {
	sd := sha256.Sum256(statement)
	h := sha256.New()
	h.Write([]byte("guildhall/webauthn/v1"))
	h.Write([]byte{0})
	h.Write(nonce)
	h.Write(sd[:])
	return h.Sum(nil)
}

func canonicalJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jcs.Transform(b)
}

// statementWords says in plain words what the statement means.
func statementWords(s Statement, witnessName string) string {
	verb := "approve"
	if s.Decision == contract.Reject {
		verb = "reject"
	}
	return fmt.Sprintf("I, %s (%s), %s the %s ceremony %s for artifact %s with digest %s, under the policy and witness set with hash %s. Prepared %s.",
		witnessName, s.WitnessID, verb, s.Kind, s.CeremonyID, s.ArtifactName, s.ArtifactDigest, s.PolicyHash, s.IssuedAt)
}
