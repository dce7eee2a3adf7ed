// Package custody defines the chain of custody: an append-only sequence of events,
// each hash-chained to the one before it, verifiable offline.
//
// Encoding: an event is serialised as RFC 8785 (JCS) canonical JSON of Event,
// which includes the previous event's hash (prevHash). Its hash is the lowercase
// hex SHA-256 of exactly those bytes. JCS fixes key order, number and string
// forms, so the bytes do not depend on the Go version or the database; the Ops DB
// stores them verbatim in custody_events.body and verification recomputes the hash
// from that column alone. The chain starts with a genesis event at seq 0 whose
// prevHash is 64 zeros.
//
// A link verifies when: its seq is the next one; SHA-256 of its body equals its
// stored hash; the body is canonical JCS holding only Event's members; the body's
// seq, type and prevHash equal the row's columns; and prevHash equals the
// previous link's hash. Verification reports the first link that fails and why.
// What a chain cannot show by itself is that it was not cut short or rebuilt
// from some link on: compare its head with one recorded elsewhere (an evidence
// bundle, a CeremonyAttestation).
package custody

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gowebpki/jcs"
)

// Event types. Every state change of a ceremony or artifact is one of these.
const (
	TypeGenesis           = "custody.genesis"
	TypeCeremonyOpened    = "ceremony.opened"
	TypeSignatureAccepted = "signature.accepted"
	TypeMessageRejected   = "message.rejected"
	TypeStatusChanged     = "ceremony.status_changed"
	TypeCeremonyAmended   = "ceremony.amended"
	TypeSignaturesVoided  = "signatures.voided"
	TypeArtifactState     = "artifact.state_changed"
	TypeNotification      = "notification.delivered"
	TypeChronicle         = "chronicle.projected"
	TypeKeyRegistered     = "witness.key_registered"
	TypeKeyRemoved        = "witness.key_removed"
	TypeAttestation       = "attestation.written"
	// TypeNotificationFailed is a notification that could not be delivered after
	// every try.
	TypeNotificationFailed = "notification.failed"
	// TypeAttention is a ceremony flagged for operators.
	TypeAttention = "ceremony.attention"
	// The directory: people added, changed (name, e-mail, roles an admin gave),
	// deactivated and reactivated by someone, and roles synced from the identity
	// provider at a login.
	TypeWitnessAdded       = "witness.added"
	TypeWitnessChanged     = "witness.changed"
	TypeWitnessDeactivated = "witness.deactivated"
	TypeWitnessReactivated = "witness.reactivated"
	TypeWitnessSynced      = "witness.roles_synced"
	// TypeTemplateApplied is a new version of an approval template.
	TypeTemplateApplied = "template.applied"
	// TypeWebKeyRegistered is a web signing key the workflows trust to vouch for
	// the logins and API tokens the web app authenticated.
	TypeWebKeyRegistered = "webkey.registered"
	// TypeWebKeyRetired is a web signing key an operator retired (after rotating
	// SESSION_SECRET): from then on the workflows no longer trust its vouches,
	// and a web replica that derives it refuses to start. Data: keyId, reason.
	TypeWebKeyRetired = "webkey.retired"
	// The Graph bridge, each tied to the ceremony whose decision it carries out
	// (so it is in that ceremony's evidence bundle): a carry-out asked for (on
	// sealing, a revocation, an operator's re-apply), each attempt's Graph calls
	// and what they changed (applied), an attempt that failed (retried or given
	// up), one that did nothing because the decision no longer stands
	// (skipped), and a drift check that found Intune differing from the
	// decision, or agreeing again.
	TypeIntuneRequested = "intune.requested"
	TypeIntuneApplied   = "intune.applied"
	TypeIntuneFailed    = "intune.failed"
	TypeIntuneSkipped   = "intune.skipped"
	TypeIntuneDrift     = "intune.drift"
)

// ZeroHash is the prevHash of the genesis event.
var ZeroHash = strings.Repeat("0", 64)

// TimeLayout is how OccurredAt is written: UTC, microseconds, so it survives a
// round trip through Postgres timestamptz unchanged.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Event is one link of the chain.
type Event struct {
	Seq            int64           `json:"seq"`
	Type           string          `json:"type"`
	CeremonyID     string          `json:"ceremonyId,omitempty"`
	ArtifactDigest string          `json:"artifactDigest,omitempty"`
	Actor          string          `json:"actor,omitempty"`
	IdempotencyKey string          `json:"idempotencyKey"`
	OccurredAt     string          `json:"occurredAt"`
	Data           json.RawMessage `json:"data,omitempty"`
	PrevHash       string          `json:"prevHash"`
}

// FormatTime renders t as OccurredAt expects.
func FormatTime(t time.Time) string { return t.UTC().Truncate(time.Microsecond).Format(TimeLayout) }

// Seal canonicalises e and returns its body bytes and hash.
func Seal(e Event) (body []byte, hash string, err error) {
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, "", fmt.Errorf("encode custody event: %w", err)
	}
	body, err = jcs.Transform(raw)
	if err != nil {
		return nil, "", fmt.Errorf("canonicalise custody event: %w", err)
	}
	return body, HashBody(body), nil
}

// HashBody is the hash of a stored body.
func HashBody(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// Link is a stored event as verification sees it: the row's columns.
type Link struct {
	Seq      int64
	Type     string
	Body     []byte
	PrevHash string
	Hash     string
}

// Break describes the first place a chain fails verification.
type Break struct {
	Seq    int64
	Reason string
}

func (b *Break) Error() string {
	return fmt.Sprintf("custody chain broken at seq %d: %s", b.Seq, b.Reason)
}

// Verifier checks links one at a time, in seq order, so a chain of any length is
// verified in constant memory.
type Verifier struct {
	next     int64
	prevHash string
	// Count is the number of links verified so far.
	Count int64
}

// NewVerifier verifies a whole chain starting at genesis.
func NewVerifier() *Verifier { return &Verifier{next: 0, prevHash: ZeroHash} }

// NewSegmentVerifier verifies a contiguous segment that starts after a link whose
// seq and hash are trusted (for evidence bundles).
func NewSegmentVerifier(afterSeq int64, afterHash string) *Verifier {
	return &Verifier{next: afterSeq + 1, prevHash: afterHash}
}

// Head returns the seq and hash of the last verified link.
func (v *Verifier) Head() (int64, string) { return v.next - 1, v.prevHash }

// Next verifies the next link. It reads the body in a single pass (see
// CheckCanonical) so verifying costs about as much as reading the row.
func (v *Verifier) Next(l Link) error {
	if l.Seq != v.next {
		if l.Seq > v.next {
			return &Break{Seq: v.next, Reason: fmt.Sprintf("missing: next stored event is seq %d", l.Seq)}
		}
		return &Break{Seq: l.Seq, Reason: fmt.Sprintf("out of order: expected seq %d", v.next)}
	}
	if !hashMatches(l.Body, l.Hash) {
		return &Break{Seq: l.Seq, Reason: "stored hash does not match the event body (body or hash edited)"}
	}
	h, err := scanHeader(l.Body)
	if err != nil {
		return &Break{Seq: l.Seq, Reason: err.Error()}
	}
	switch {
	case h.seq != l.Seq:
		return &Break{Seq: l.Seq, Reason: fmt.Sprintf("body says seq %d (rows moved or swapped)", h.seq)}
	case string(h.typ) != l.Type:
		return &Break{Seq: l.Seq, Reason: fmt.Sprintf("type column %q differs from body %q", l.Type, h.typ)}
	case string(h.prevHash) != l.PrevHash:
		return &Break{Seq: l.Seq, Reason: "prev_hash column differs from the body"}
	case string(h.prevHash) != v.prevHash:
		return &Break{Seq: l.Seq, Reason: "prevHash does not match the previous event's hash (forged or reordered link)"}
	case l.Seq == 0 && string(h.typ) != TypeGenesis:
		return &Break{Seq: 0, Reason: "first event is not the genesis event"}
	}
	v.prevHash = l.Hash
	v.next++
	v.Count++
	return nil
}

// hashMatches compares SHA-256(body) with a lowercase hex hash without
// allocating.
func hashMatches(body []byte, want string) bool {
	if len(want) != 2*sha256.Size {
		return false
	}
	sum := sha256.Sum256(body)
	var buf [2 * sha256.Size]byte
	hex.Encode(buf[:], sum[:])
	return string(buf[:]) == want
}

// Decode checks that body is a canonical custody event and decodes it.
func Decode(body []byte) (Event, error) {
	var e Event
	if _, err := scanHeader(body); err != nil {
		return e, err
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return e, fmt.Errorf("body is not a custody event: %w", err)
	}
	return e, nil
}

// ErrEmpty is returned by callers when there is no chain at all.
var ErrEmpty = errors.New("custody chain is empty")
