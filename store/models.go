package store

import (
	"time"

	"github.com/uptrace/bun"
)

// Witness is a person who may sign ceremonies.
type Witness struct {
	bun.BaseModel `bun:"table:witnesses"`

	ID          string       `bun:"id,pk"`
	DisplayName string       `bun:"display_name,notnull"`
	Email       string       `bun:"email,notnull"`
	Roles       []string     `bun:"roles,type:text,notnull"`
	Credentials []Credential `bun:"credentials,type:text,notnull"`
	CreatedAt   time.Time    `bun:"created_at,notnull"`
	UpdatedAt   time.Time    `bun:"updated_at,notnull"`
}

// Credential is a registered signing key of a witness.
type Credential struct {
	Type      string    `json:"type"` // "ed25519" or "webauthn"
	KeyID     string    `json:"keyId"`
	PublicKey string    `json:"publicKey"` // base64; COSE key for webauthn
	Label     string    `json:"label,omitempty"`
	AddedAt   time.Time `json:"addedAt"`
	// WebAuthn bookkeeping.
	SignCount uint32 `json:"signCount,omitempty"`
	AAGUID    string `json:"aaguid,omitempty"`
}

// Artifact states, in lifecycle order.
const (
	ArtifactProposed = "proposed"
	ArtifactAttested = "attested"
	ArtifactReleased = "released"
	ArtifactRevoked  = "revoked"
)

// Artifact is a governed artifact.
type Artifact struct {
	bun.BaseModel `bun:"table:artifacts"`

	Digest    string    `bun:"digest,pk"`
	Name      string    `bun:"name,notnull"`
	URI       string    `bun:"uri,notnull"`
	State     string    `bun:"state,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
	UpdatedAt time.Time `bun:"updated_at,notnull"`
}

// Ceremony is the Ops DB projection of a ceremony workflow, kept for lists.
type Ceremony struct {
	bun.BaseModel `bun:"table:ceremonies"`

	ID             string     `bun:"id,pk"`
	WorkflowID     string     `bun:"workflow_id,notnull"`
	RunID          string     `bun:"run_id,notnull"`
	Kind           string     `bun:"kind,notnull"`
	Title          string     `bun:"title,notnull"`
	ArtifactDigest string     `bun:"artifact_digest,notnull"`
	Initiator      string     `bun:"initiator,notnull"`
	Status         string     `bun:"status,notnull"`
	Reason         string     `bun:"reason,notnull"`
	Spec           string     `bun:"spec,notnull"` // JSON of contract.Spec
	WitnessIDs     []string   `bun:"witness_ids,type:text,notnull"`
	PendingIDs     []string   `bun:"pending_ids,type:text,notnull"`
	Threshold      int        `bun:"threshold,notnull"`
	Approvals      int        `bun:"approvals,notnull"`
	Rejections     int        `bun:"rejections,notnull"`
	Epoch          int        `bun:"epoch,notnull"`
	Deadline       time.Time  `bun:"deadline,notnull"`
	OpenedAt       time.Time  `bun:"opened_at,notnull"`
	ClosedAt       *time.Time `bun:"closed_at"`
	UpdatedAt      time.Time  `bun:"updated_at,notnull"`
}

// Signature is an accepted signature.
type Signature struct {
	bun.BaseModel `bun:"table:signatures"`

	ID         int64    `bun:"id,pk,autoincrement"`
	CeremonyID string   `bun:"ceremony_id,notnull"`
	Epoch      int      `bun:"epoch,notnull"`
	WitnessID  string   `bun:"witness_id,notnull"`
	Decision   string   `bun:"decision,notnull"`
	Comment    string   `bun:"comment,notnull"`
	Roles      []string `bun:"roles,type:text,notnull"`
	Statement  string   `bun:"statement,notnull"`
	Proof      string   `bun:"proof,notnull"` // JSON of contract.Proof, or ""
	KeyID      string   `bun:"key_id,notnull"`
	// PublicKey is the registered key the proof was made with (base64), copied
	// at signing time so evidence does not depend on it staying registered.
	PublicKey      string     `bun:"public_key,notnull"`
	Via            string     `bun:"via,notnull"`
	IdempotencyKey string     `bun:"idempotency_key,notnull"`
	SignedAt       time.Time  `bun:"signed_at,notnull"`
	VoidedAt       *time.Time `bun:"voided_at"`
}

// CustodyEvent is a stored link of the custody chain.
type CustodyEvent struct {
	bun.BaseModel `bun:"table:custody_events"`

	Seq            int64     `bun:"seq,pk"`
	Type           string    `bun:"type,notnull"`
	CeremonyID     *string   `bun:"ceremony_id"`
	ArtifactDigest *string   `bun:"artifact_digest"`
	Actor          string    `bun:"actor,notnull"`
	IdempotencyKey string    `bun:"idempotency_key,notnull"`
	OccurredAt     time.Time `bun:"occurred_at,notnull"`
	Body           string    `bun:"body,notnull"`
	PrevHash       string    `bun:"prev_hash,notnull"`
	Hash           string    `bun:"hash,notnull"`
}
