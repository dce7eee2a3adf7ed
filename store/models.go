package store

import (
	"slices"
	"time"

	"github.com/uptrace/bun"
)

// Witness is a person in the directory: who may sign ceremonies that list them,
// open them (by template) and keep the directory (role admin).
type Witness struct {
	bun.BaseModel `bun:"table:witnesses"`

	ID          string `bun:"id,pk"`
	DisplayName string `bun:"display_name,notnull"`
	Email       string `bun:"email,notnull"`
	// Roles is the effective set: AdminRoles and IdPRoles together, sorted.
	Roles []string `bun:"roles,type:text,notnull"`
	// AdminRoles were given by an admin (web, API or CLI); IdPRoles come from the
	// identity provider's group claims, replaced at every login.
	AdminRoles  []string     `bun:"admin_roles,type:text,notnull"`
	IdPRoles    []string     `bun:"idp_roles,type:text,notnull"`
	Credentials []Credential `bun:"credentials,type:text,notnull"`
	// DeactivatedAt is set while the person may not log in or sign.
	DeactivatedAt *time.Time `bun:"deactivated_at"`
	// Identity is the identity provider's "<issuer> <subject>" bound to this
	// record at the first verified login; later logins match on it alone.
	Identity  *string    `bun:"identity"`
	SyncedAt  *time.Time `bun:"synced_at"`
	CreatedAt time.Time  `bun:"created_at,notnull"`
	UpdatedAt time.Time  `bun:"updated_at,notnull"`
}

// Active reports whether the person may log in and sign.
func (w Witness) Active() bool { return w.DeactivatedAt == nil }

// EffectiveRoles is the set the person holds: the roles an admin gave and those
// from the identity provider together, sorted, each once. Roles is this as
// last saved; a change computes it again from the two sources.
func (w Witness) EffectiveRoles() []string {
	return sortedSet(append(slices.Clone(w.AdminRoles), w.IdPRoles...))
}

// RoleSource says where a role of a witness came from: "idp", "admin" or both
// ("idp+admin").
func (w Witness) RoleSource(role string) string {
	idp, admin := slices.Contains(w.IdPRoles, role), slices.Contains(w.AdminRoles, role)
	switch {
	case idp && admin:
		return "idp+admin"
	case idp:
		return "idp"
	case admin:
		return "admin"
	}
	return ""
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
	PublicKey string `bun:"public_key,notnull"`
	Via       string `bun:"via,notnull"`
	// Assurance is how the signer was authenticated (contract.Assurance; ""
	// for signatures from before it was recorded), AssuranceMethod by what, and
	// HeldRoles the roles they held in the directory at the time.
	Assurance       string     `bun:"assurance,notnull"`
	AssuranceMethod string     `bun:"assurance_method,notnull"`
	HeldRoles       []string   `bun:"held_roles,type:text,notnull"`
	IdempotencyKey  string     `bun:"idempotency_key,notnull"`
	SignedAt        time.Time  `bun:"signed_at,notnull"`
	VoidedAt        *time.Time `bun:"voided_at"`
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
