// Package evidence exports one ceremony as a self-contained evidence bundle and
// verifies such a bundle offline: no database, no network, only the bytes of the
// file and this code.
//
// A bundle is one JSON file, written in RFC 8785 canonical form plus a newline,
// with these sections:
//
//   - meta: what was exported, when and by what.
//   - ceremony: the spec exactly as the custody chain recorded it (the latest
//     ceremony.opened or ceremony.amended event), its policy hash and the policy
//     in words.
//   - signatures: every accepted signature, with the canonical statement, the
//     statement in words, the proof and the public key it was checked with.
//   - custody: a contiguous segment of the chain, from the ceremony's first event
//     to a chain head (the ceremony's last event, or the current head), with the
//     link before it as the anchor. Every event of the ceremony lies in it, and
//     every link's hash is recomputed from its bytes.
//   - outcome: status, reason and counts, as the chain recorded them.
//   - digests: SHA-256 of each section's canonical JSON, so damage to a section
//     is named even where no other check looks.
//
// Verification re-derives every section from the custody segment and checks the
// signatures against the statements and keys, so a change to any byte fails and
// says which section and what. What a bundle cannot prove by itself is that its
// head is the real chain's: compare the head with `guildhall verify --anchor`, a
// CeremonyAttestation, or another export.
package evidence

import (
	"encoding/json"
	"fmt"

	"github.com/gowebpki/jcs"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/statement"
)

// Format names this bundle format.
const Format = "guildhall-evidence/1"

// Bundle is an evidence bundle.
type Bundle struct {
	Format     string      `json:"format"`
	Meta       Meta        `json:"meta"`
	Ceremony   Ceremony    `json:"ceremony"`
	Signatures []Signature `json:"signatures"`
	Custody    Custody     `json:"custody"`
	Outcome    Outcome     `json:"outcome"`
	Digests    Digests     `json:"digests"`
}

// Meta says what was exported.
type Meta struct {
	CeremonyID string `json:"ceremonyId"`
	ExportedAt string `json:"exportedAt"` // RFC 3339 UTC
	Exporter   string `json:"exporter"`
}

// Ceremony is the ceremony's spec and policy.
type Ceremony struct {
	ID string `json:"id"`
	// Spec is the contract.Spec JSON exactly as the custody link at SpecSeq holds it.
	Spec       json.RawMessage `json:"spec"`
	SpecSeq    int64           `json:"specSeq"`
	PolicyHash string          `json:"policyHash"`
	Policy     string          `json:"policy"` // statement.PolicyWords
}

// Signature is one accepted signature.
type Signature struct {
	CustodySeq int64  `json:"custodySeq"` // its signature.accepted link
	WitnessID  string `json:"witnessId"`
	Decision   string `json:"decision"`
	Comment    string `json:"comment,omitempty"`
	Epoch      int    `json:"epoch"`
	SignedAt   string `json:"signedAt"` // the link's occurredAt
	Via        string `json:"via,omitempty"`
	// Statement is the canonical statement that was signed ("" for a
	// session-authenticated decision without a proof), and Words says it.
	Statement string               `json:"statement,omitempty"`
	Words     string               `json:"words,omitempty"`
	Proof     *contract.Proof      `json:"proof,omitempty"`
	PublicKey *statement.PublicKey `json:"publicKey,omitempty"`
	// Assurance says how the signer was authenticated, as the workflow recorded
	// it ("key (passkey)", "session (oidc)", "operator"; absent for signatures
	// from before it was recorded), with the roles they held then. A session or
	// token assurance rests on the web app's Vouch, checked against the web key
	// recorded with it (VouchPublicKey); MessageKey is the request it vouches for.
	Assurance      string          `json:"assurance,omitempty"`
	HeldRoles      []string        `json:"heldRoles,omitempty"`
	Vouch          *contract.Vouch `json:"vouch,omitempty"`
	VouchPublicKey string          `json:"vouchPublicKey,omitempty"`
	MessageKey     string          `json:"messageKey,omitempty"`
	// Voided is set when a later amendment voided the signature.
	Voided bool `json:"voided,omitempty"`
}

// Point is a link's seq and hash.
type Point struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// Link is one custody link; Event is its stored body, byte for byte (canonical
// JSON, which stays byte-identical inside the canonical bundle).
type Link struct {
	Seq      int64           `json:"seq"`
	Type     string          `json:"type"`
	Event    json.RawMessage `json:"event"`
	PrevHash string          `json:"prevHash"`
	Hash     string          `json:"hash"`
}

// Custody is the chain segment.
type Custody struct {
	// Anchor is the link just before the segment; seq -1 and 64 zeros when the
	// segment starts at genesis.
	Anchor Point  `json:"anchor"`
	Head   Point  `json:"head"`
	Links  []Link `json:"links"`
	// CeremonySeqs lists the links that belong to the ceremony.
	CeremonySeqs []int64 `json:"ceremonySeqs"`
}

// Outcome is how the ceremony stands.
type Outcome struct {
	Status     string `json:"status"`
	Reason     string `json:"reason,omitempty"`
	DecidedSeq int64  `json:"decidedSeq,omitempty"` // the last status link, 0 if none
	OpenedAt   string `json:"openedAt"`
	ClosedAt   string `json:"closedAt,omitempty"`
	Approvals  int    `json:"approvals"`
	Rejections int    `json:"rejections"`
	// A cancel recorded since cancels' assurance was (cancel-assurance):
	// ClosedBy is whom it names, CloseAssurance how they were authenticated
	// ("session (dev-login)", "token (api-token)", "operator"), and a session
	// or token one rests on the web app's CloseVouch, checked against the web
	// key recorded with it (CloseVouchPublicKey) for the cancel whose
	// idempotency key is CloseMessageKey.
	ClosedBy            string          `json:"closedBy,omitempty"`
	CloseAssurance      string          `json:"closeAssurance,omitempty"`
	CloseVouch          *contract.Vouch `json:"closeVouch,omitempty"`
	CloseVouchPublicKey string          `json:"closeVouchPublicKey,omitempty"`
	CloseMessageKey     string          `json:"closeMessageKey,omitempty"`
}

// Digests are "sha256:<hex>" of each section's canonical JSON.
type Digests struct {
	Meta       string `json:"meta"`
	Ceremony   string `json:"ceremony"`
	Signatures string `json:"signatures"`
	Custody    string `json:"custody"`
	Outcome    string `json:"outcome"`
}

// Section names, as failures report them.
const (
	SecFile       = "file"
	SecMeta       = "meta"
	SecCeremony   = "ceremony"
	SecSignatures = "signatures"
	SecCustody    = "custody"
	SecOutcome    = "outcome"
	SecDigests    = "digests"
)

func (b *Bundle) digests() (Digests, error) {
	var d Digests
	var err error
	if d.Meta, err = digest(b.Meta); err != nil {
		return d, err
	}
	if d.Ceremony, err = digest(b.Ceremony); err != nil {
		return d, err
	}
	if d.Signatures, err = digest(b.Signatures); err != nil {
		return d, err
	}
	if d.Custody, err = digest(b.Custody); err != nil {
		return d, err
	}
	d.Outcome, err = digest(b.Outcome)
	return d, err
}

func digest(v any) (string, error) {
	c, err := canonical(v)
	if err != nil {
		return "", err
	}
	return "sha256:" + hashHex(c), nil
}

func canonical(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	out, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("canonicalise: %w", err)
	}
	return out, nil
}

// Encode writes the bundle in canonical form with a final newline, filling in
// the digests.
func (b *Bundle) Encode() ([]byte, error) {
	d, err := b.digests()
	if err != nil {
		return nil, err
	}
	b.Digests = d
	out, err := canonical(b)
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
