// Package statement defines the canonical statement a witness signs, how it reads
// in words, and how its signatures are made and checked.
//
// It is pure Go with no I/O and no clock of its own, so the Ceremony workflow's
// sign validator calls it deterministically, the web app and `guildhall sign`
// build the same bytes from the same inputs, and `guildhall evidence verify`
// checks signatures offline.
//
// The rules, which every producer and checker follows:
//
//   - A statement is the RFC 8785 (JCS) canonical JSON of Statement. Parse
//     refuses any other form, so the signed bytes and the parsed fields can never
//     disagree.
//   - policyHash is the lowercase hex SHA-256 of the JCS JSON of
//     {"quorum": <contract.Quorum with veto sorted>, "witnesses": <the spec's
//     witnesses sorted by id, then role>}: the policy and the witness set, so
//     adding a witness or changing a minimum changes what is signed.
//   - issuedAt is when the statement was prepared (RFC 3339, UTC, seconds).
//   - commentDigest is "sha256:" + the lowercase hex SHA-256 of the UTF-8 comment
//     sent with the decision (of "" when there is none), so the comment cannot be
//     changed after signing. Statements made before it was added lack the field;
//     their comment is not bound.
//   - An ed25519 proof is the signature over the statement bytes themselves.
//   - A WebAuthn proof binds through the challenge
//     SHA-256("guildhall/webauthn/v1" || 0x00 || nonce || SHA-256(statement)),
//     with the nonce in contract.Proof.Nonce, and signs
//     authenticatorData || SHA-256(clientDataJSON) as WebAuthn does.
//   - A key id for ed25519 is "ed25519:" + the first 16 hex digits of SHA-256 of
//     the raw 32-byte public key; for WebAuthn it is the credential id
//     (base64url, no padding).
package statement

import (
	"bytes"
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
	"github.com/guildhouse/guildhall/rules"
)

// Type versions the statement format.
const Type = "guildhall.statement/v1"

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
	CommentDigest  string            `json:"commentDigest,omitempty"`
}

// TimeLayout is how IssuedAt is written.
const TimeLayout = time.RFC3339

// PolicyHash hashes a spec's quorum policy and witness set and, when the spec
// has one, its Intune target: where a release goes is part of what a witness
// approves, so a statement signed for one target does not fit another. (Specs
// without a target hash as they always have.)
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
	policy := map[string]any{"quorum": q, "witnesses": ws}
	if spec.Intune != nil {
		policy["intune"] = spec.Intune
	}
	b, err := canonicalJSON(policy)
	if err != nil {
		panic(err) // plain structs always encode
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Build returns the statement a witness signs for a decision, with its comment
// ("" for none), on a spec at a time.
func Build(spec contract.Spec, witnessID string, d contract.Decision, comment string, at time.Time) Statement {
	return Statement{
		Type: Type, CeremonyID: spec.ID, Kind: spec.Kind,
		ArtifactName: spec.Artifact.Name, ArtifactDigest: spec.Artifact.Digest,
		PolicyHash: PolicyHash(spec), Decision: d, WitnessID: witnessID,
		IssuedAt:      at.UTC().Truncate(time.Second).Format(TimeLayout),
		CommentDigest: CommentDigest(comment),
	}
}

// CommentDigest is the commentDigest of a comment.
func CommentDigest(comment string) string {
	sum := sha256.Sum256([]byte(comment))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Canonical returns the statement's canonical bytes: exactly what is signed.
func (s Statement) Canonical() []byte {
	b, err := canonicalJSON(s)
	if err != nil {
		panic(err) // a struct of strings always encodes
	}
	return b
}

// String is the canonical statement as the text carried in contract.SignRequest.
func (s Statement) String() string { return string(s.Canonical()) }

// Digest is the lowercase hex SHA-256 of the canonical bytes.
func (s Statement) Digest() string {
	sum := sha256.Sum256(s.Canonical())
	return hex.EncodeToString(sum[:])
}

// Issued parses IssuedAt.
func (s Statement) Issued() (time.Time, error) {
	t, err := time.Parse(TimeLayout, s.IssuedAt)
	if err != nil {
		return t, fmt.Errorf("issuedAt %q is not an RFC 3339 time", s.IssuedAt)
	}
	return t, nil
}

// Parse reads a canonical statement, refusing unknown fields, another version
// and any non-canonical form.
func Parse(b []byte) (Statement, error) {
	var s Statement
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("statement is not valid JSON of a statement: %w", err)
	}
	if s.Type != Type {
		return s, fmt.Errorf("statement type %q is not %q", s.Type, Type)
	}
	if !bytes.Equal(s.Canonical(), b) {
		return s, errors.New("statement is not in canonical form (RFC 8785)")
	}
	return s, nil
}

// Matches says why a statement does not describe this decision by this witness
// on this spec, or "" when it does. IssuedAt is checked separately (Fresh).
func (s Statement) Matches(spec contract.Spec, witnessID string, d contract.Decision, comment string) string {
	want := Build(spec, witnessID, d, comment, time.Time{})
	switch {
	case s.CeremonyID != want.CeremonyID:
		return fmt.Sprintf("it names ceremony %q, not %q", s.CeremonyID, want.CeremonyID)
	case s.ArtifactDigest != want.ArtifactDigest || s.ArtifactName != want.ArtifactName:
		return fmt.Sprintf("it names artifact %s %s, but the ceremony is about %s %s",
			s.ArtifactName, s.ArtifactDigest, want.ArtifactName, want.ArtifactDigest)
	case s.Kind != want.Kind:
		return fmt.Sprintf("it says kind %q, but the ceremony is %q", s.Kind, want.Kind)
	case s.PolicyHash != want.PolicyHash:
		return "the quorum policy or the witness set has changed since it was prepared"
	case s.WitnessID != witnessID:
		return fmt.Sprintf("it names witness %s, not %s", s.WitnessID, witnessID)
	case s.Decision != d:
		return fmt.Sprintf("it records %q, but the request says %q", s.Decision, d)
	case s.CommentDigest != "" && s.CommentDigest != want.CommentDigest:
		return "the comment sent with it is not the one that was signed"
	}
	return ""
}

// ToWords says in plain words what the statement means. name is the witness's
// display name ("" to use the id alone).
func (s Statement) ToWords(name string) string {
	who := s.WitnessID
	if name != "" && name != s.WitnessID {
		who = name + " (" + s.WitnessID + ")"
	}
	verb := "approve"
	if s.Decision == contract.Reject {
		verb = "reject"
	}
	when := s.IssuedAt
	if t, err := s.Issued(); err == nil {
		when = t.UTC().Format("2 January 2006 at 15:04:05 UTC")
	}
	comment := ""
	switch s.CommentDigest {
	case "":
	case CommentDigest(""):
		comment = " I add no comment."
	default:
		comment = " My comment is part of what I sign."
	}
	return fmt.Sprintf("I, %s, %s the %s ceremony %s for the artifact %s with digest %s, "+
		"under the quorum policy and witness set whose hash is %s.%s Prepared %s.",
		who, verb, s.Kind, s.CeremonyID, s.ArtifactName, s.ArtifactDigest, s.PolicyHash, comment, when)
}

// PolicyWords describes a spec's quorum policy and witnesses in plain words, to
// show next to a statement (whose policyHash covers exactly these).
func PolicyWords(spec contract.Spec) string {
	ws := make([]string, 0, len(spec.Witnesses))
	for _, w := range spec.Witnesses {
		if w.Role != "" {
			ws = append(ws, w.ID+" ("+w.Role+")")
		} else {
			ws = append(ws, w.ID)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d approval(s) needed from the witnesses %s", spec.Quorum.Threshold, strings.Join(ws, ", "))
	roles := make([]string, 0, len(spec.Quorum.Roles))
	for r := range spec.Quorum.Roles {
		roles = append(roles, r)
	}
	slices.Sort(roles)
	for _, r := range roles {
		fmt.Fprintf(&b, "; at least %d from %s", spec.Quorum.Roles[r], r)
	}
	if len(spec.Quorum.Veto) > 0 {
		v := slices.Clone(spec.Quorum.Veto)
		slices.Sort(v)
		fmt.Fprintf(&b, "; a single reject from %s ends the ceremony", strings.Join(v, " or "))
	}
	if spec.Initiator != "" {
		fmt.Fprintf(&b, "; the initiator %s does not count", spec.Initiator)
	}
	if m := spec.Quorum.MinAssurance; m != "" {
		fmt.Fprintf(&b, "; a signature counts only with assurance %s or stronger", m)
	}
	if spec.Intune != nil {
		fmt.Fprintf(&b, "; once sealed, the release goes to %s", rules.IntuneWords(spec.Intune))
	}
	return b.String() + "."
}

func canonicalJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jcs.Transform(b)
}
