// Package contract is the public API of the Ceremony workflow: its names, the JSON
// payloads of its updates, signals and queries, and the search attributes it keeps.
//
// The web app, the watcher, scripts and operators (temporal CLI, tctl) all speak it,
// so every payload is plain JSON a person can type. Changing a field name here is a
// breaking change for all of them: add fields, never rename or repurpose them.
package contract

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Names of the workflow, its task queue and its messages.
const (
	WorkflowType = "Ceremony"
	TaskQueue    = "guildhall-ceremonies"

	UpdateSign              = "sign"
	SignalWitnessSignature  = "witness-signature"
	SignalSpecChanged       = "spec-changed"
	SignalSubstrateDecision = "substrate-decision"
	SignalCancel            = "cancel"
	SignalDirectoryChanged  = "directory-changed"
	QueryStatus             = "status"
)

// Search attributes the workflow keeps current for the Temporal UI and CLI filters.
const (
	SACeremonyStatus   = "CeremonyStatus"   // Keyword
	SACeremonyKind     = "CeremonyKind"     // Keyword
	SAArtifactDigest   = "ArtifactDigest"   // Keyword
	SAPendingWitnesses = "PendingWitnesses" // KeywordList
	SACeremonyDeadline = "CeremonyDeadline" // Datetime
	// SACeremonyAttention is set (Keyword) while a ceremony needs an operator, e.g.
	// "substrate_timeout" when the substrate has not decided in time; unset otherwise.
	SACeremonyAttention = "CeremonyAttention"
)

// Attention reasons (State.Attention and the CeremonyAttention search attribute).
const (
	AttentionSubstrateTimeout = "substrate_timeout"
	// AttentionWitnessDeactivated: a witness the ceremony still waits for was
	// deactivated in the directory, so the quorum may need an amendment.
	AttentionWitnessDeactivated = "witness_deactivated"
)

// MemoTitle is the memo key holding the ceremony's title (shown in the Temporal UI).
const MemoTitle = "title"

// SearchAttributeTypes maps each search attribute to its Temporal type name, as
// `temporal server start-dev --search-attribute NAME=TYPE` and
// `temporal operator search-attribute create` expect them.
var SearchAttributeTypes = [][2]string{
	{SACeremonyStatus, "Keyword"},
	{SACeremonyKind, "Keyword"},
	{SAArtifactDigest, "Keyword"},
	{SAPendingWitnesses, "KeywordList"},
	{SACeremonyDeadline, "Datetime"},
	{SACeremonyAttention, "Keyword"},
}

// Ceremony kinds.
const (
	KindRelease      = "release"
	KindKeyRotation  = "key-rotation"
	KindRatification = "ratification"
)

// Kinds lists the accepted ceremony kinds in display order.
var Kinds = []string{KindRelease, KindKeyRotation, KindRatification}

// Status is the lifecycle state of a ceremony.
type Status string

// Lifecycle states; see DESIGN.md. Only collecting and quorum_reached are open.
const (
	StatusCollecting    Status = "collecting"
	StatusQuorumReached Status = "quorum_reached"
	StatusSealed        Status = "sealed"
	StatusRejected      Status = "rejected"
	StatusExpired       Status = "expired"
	StatusCancelled     Status = "cancelled"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusCollecting, StatusQuorumReached, StatusSealed, StatusRejected, StatusExpired, StatusCancelled}

// Open reports whether signatures are still accepted in this state.
func (s Status) Open() bool { return s == StatusCollecting }

// Final reports whether the ceremony has ended.
func (s Status) Final() bool {
	return s == StatusSealed || s == StatusRejected || s == StatusExpired || s == StatusCancelled
}

// Result reports whether the status is a result the substrate acts on: quorum
// reached, or final.
func (s Status) Result() bool { return s == StatusQuorumReached || s.Final() }

// Known reports whether s is one of Statuses.
func (s Status) Known() bool { return slices.Contains(Statuses, s) }

// Decision is a witness's answer.
type Decision string

// The two decisions a witness can sign.
const (
	Approve Decision = "approve"
	Reject  Decision = "reject"
)

// Artifact is the subject of a ceremony.
type Artifact struct {
	Name   string `json:"name"`
	Digest string `json:"digest"` // "sha256:" + 64 lowercase hex digits
	URI    string `json:"uri,omitempty"`
}

// WitnessRef names a witness and the role they sign in. A person with two roles is
// listed twice; the quorum policy still counts them once.
type WitnessRef struct {
	ID   string `json:"id"`
	Role string `json:"role,omitempty"`
}

// Quorum is the policy: Threshold approvals overall, at least Roles[r] approvals from
// witnesses holding role r, and a single reject from a Veto role ends the ceremony.
// MinAssurance, when set, refuses signatures whose signer was authenticated more
// weakly (see Assurance); empty accepts every level.
type Quorum struct {
	Threshold    int            `json:"threshold"`
	Roles        map[string]int `json:"roles,omitempty"`
	Veto         []string       `json:"veto,omitempty"`
	MinAssurance Assurance      `json:"minAssurance,omitempty"`
}

// Assurance says how a signer was authenticated, as far as the workflow can check.
type Assurance string

// Assurance levels, weakest first. Only what the workflow can verify is claimed:
// a statement proof by a registered key is AssuranceKey; a web login or an API
// token that the web app vouched for with its signing key (Vouch) is
// AssuranceSession or AssuranceToken; anything else, such as a signature sent to
// Temporal directly, is AssuranceOperator: Guildhall authenticated nobody.
const (
	AssuranceOperator Assurance = "operator"
	AssuranceToken    Assurance = "token"
	AssuranceSession  Assurance = "session"
	AssuranceKey      Assurance = "key"
)

// Assurances lists the levels, weakest first.
var Assurances = []Assurance{AssuranceOperator, AssuranceToken, AssuranceSession, AssuranceKey}

// TemplateRef names the approval template (and its version) a spec was made from.
type TemplateRef struct {
	Name    string `json:"name"`
	Version int    `json:"version,omitempty"`
}

// Spec is what a ceremony is opened with, and what spec-changed replaces.
type Spec struct {
	ID          string       `json:"id"` // "<namespace>/<name>", e.g. "default/release-v1"
	Kind        string       `json:"kind"`
	Title       string       `json:"title,omitempty"`
	Description string       `json:"description,omitempty"`
	Artifact    Artifact     `json:"artifact"`
	Initiator   string       `json:"initiator"`
	Witnesses   []WitnessRef `json:"witnesses"`
	Quorum      Quorum       `json:"quorum"`
	Deadline    time.Time    `json:"deadline"`
	// Generation is the Ceremony resource's metadata.generation when the spec came
	// from the cluster; 0 for ceremonies opened from the web or CLI.
	Generation int64 `json:"generation,omitempty"`
	// Source says who opened the ceremony: "web", "cluster", "cli", "seed".
	Source string `json:"source,omitempty"`
	// Template is the approval template the spec was made from, if any. A spec
	// that names a template and lists no witnesses is completed from it when
	// the ceremony opens (a cluster Ceremony may do that).
	Template *TemplateRef `json:"template,omitempty"`
	// Intune, on a release, is where the sealed release goes in Microsoft
	// Intune: the Graph bridge assigns the app to these groups once the
	// ceremony is sealed and withdraws them when the artifact is revoked. It
	// is part of what the witnesses sign (statement.PolicyHash).
	Intune *IntuneTarget `json:"intune,omitempty"`
}

// IntuneTarget is what a release ceremony decides for Intune: one app (the
// Intune mobileApp id), the Entra groups it is assigned to with an intent each,
// and what a revocation does to those assignments. Guildhall only carries it
// out; rules.ValidateIntuneTarget says what a valid one is.
//
//	{"appId":"0177548a-548a-0177-8a54-77018a547701",
//	 "groups":[{"groupId":"11111111-2222-3333-4444-555555555555","intent":"required"}],
//	 "onRevoke":"uninstall"}
type IntuneTarget struct {
	AppID    string        `json:"appId"`
	Groups   []IntuneGroup `json:"groups"`
	OnRevoke IntuneRevoke  `json:"onRevoke"`
}

// IntuneGroup is one Entra group of a target and the intent decided for it.
type IntuneGroup struct {
	GroupID string       `json:"groupId"`
	Intent  IntuneIntent `json:"intent"`
}

// IntuneIntent is an app assignment's install intent.
type IntuneIntent string

// The intents a ceremony may decide for a group: Intune installs the app
// (required), offers it in the Company Portal (available), or removes it
// (uninstall).
const (
	IntuneRequired  IntuneIntent = "required"
	IntuneAvailable IntuneIntent = "available"
	IntuneUninstall IntuneIntent = "uninstall"
)

// IntuneIntents lists the intents a target may use.
var IntuneIntents = []IntuneIntent{IntuneRequired, IntuneAvailable, IntuneUninstall}

// IntuneRevoke says what withdrawing a revoked release does to the assignments
// Guildhall made for it.
type IntuneRevoke string

const (
	// IntuneRevokeRemove deletes them: nothing new is installed, installed
	// copies stay.
	IntuneRevokeRemove IntuneRevoke = "remove"
	// IntuneRevokeUninstall switches them to uninstall: Intune removes the app
	// from those groups' devices.
	IntuneRevokeUninstall IntuneRevoke = "uninstall"
)

// IntuneDecision is which decision about a target the Graph bridge carries out.
type IntuneDecision string

const (
	// IntuneReleased: the ceremony was sealed; the groups get their intents.
	IntuneReleased IntuneDecision = "released"
	// IntuneRevoked: the artifact was revoked; the groups are withdrawn per OnRevoke.
	IntuneRevoked IntuneDecision = "revoked"
)

// WorkflowID derives the workflow id of a ceremony from its id.
func WorkflowID(ceremonyID string) string { return "ceremony/" + ceremonyID }

// CeremonyIDFromWorkflowID is the inverse of WorkflowID.
func CeremonyIDFromWorkflowID(workflowID string) (string, bool) {
	return strings.CutPrefix(workflowID, "ceremony/")
}

// SignRequest is the payload of the `sign` update and the `witness-signature` signal.
//
// Example (a person can type this):
//
//	{"idempotencyKey":"k-1","witnessId":"alice@example.org","decision":"approve","comment":"lgtm"}
type SignRequest struct {
	IdempotencyKey string   `json:"idempotencyKey"`
	WitnessID      string   `json:"witnessId"`
	Decision       Decision `json:"decision"`
	Comment        string   `json:"comment,omitempty"`
	// Statement is the canonical statement the witness signed (see the statement
	// package); Proof binds the witness to it. Both are optional for unsigned
	// (session-authenticated) decisions and required when the witness has keys.
	Statement string `json:"statement,omitempty"`
	Proof     *Proof `json:"proof,omitempty"`
	// Via says which channel carried it: "web", "api", "cli". Informational:
	// Assurance is what counts.
	Via string `json:"via,omitempty"`
	// Vouch is the web app's signed word that it authenticated the witness
	// (a login or an API token) for exactly this request. Without a valid one,
	// and without a key proof, a signature's assurance is operator.
	Vouch *Vouch `json:"vouch,omitempty"`
}

// Vouch is the web app's attestation of how it authenticated a signer. The
// signature is ed25519 by a web signing key registered in the Ops DB, over the
// canonical JSON (RFC 8785) of VouchClaims for the request.
type Vouch struct {
	Level     Assurance `json:"level"`  // session or token
	Method    string    `json:"method"` // how: "oidc", "dev-login", "api-token"
	At        time.Time `json:"at"`
	KeyID     string    `json:"keyId"`
	Signature string    `json:"signature"` // base64 (std)
}

// VouchClaims is what a Vouch signs: the request it is for and how its signer
// was authenticated. Changing any of it breaks the signature.
type VouchClaims struct {
	CeremonyID     string    `json:"ceremonyId"`
	WitnessID      string    `json:"witnessId"`
	Decision       Decision  `json:"decision"`
	CommentSHA256  string    `json:"commentSha256"`
	IdempotencyKey string    `json:"idempotencyKey"`
	Level          Assurance `json:"level"`
	Method         string    `json:"method"`
	At             time.Time `json:"at"`
}

// Proof is a cryptographic signature over a statement.
type Proof struct {
	Type      string `json:"type"` // "ed25519" or "webauthn"
	KeyID     string `json:"keyId"`
	Signature string `json:"signature"` // base64 (std) of the raw signature
	// WebAuthn assertions carry what the authenticator signed over.
	AuthenticatorData string `json:"authenticatorData,omitempty"`
	ClientDataJSON    string `json:"clientDataJSON,omitempty"`
	Nonce             string `json:"nonce,omitempty"`
}

// SpecChanged is the payload of the `spec-changed` signal.
type SpecChanged struct {
	IdempotencyKey string `json:"idempotencyKey"`
	Generation     int64  `json:"generation"`
	Spec           Spec   `json:"spec"`
}

// SubstrateDecision is the payload of the `substrate-decision` signal: the
// substrate's phase for the Ceremony resource (Sealed, Aborted, Expired, ...).
type SubstrateDecision struct {
	IdempotencyKey string `json:"idempotencyKey"`
	Phase          string `json:"phase"`
	Generation     int64  `json:"generation,omitempty"`
	Reason         string `json:"reason,omitempty"`
}

// Cancel is the payload of the `cancel` signal.
type Cancel struct {
	IdempotencyKey string `json:"idempotencyKey"`
	By             string `json:"by"`
	Reason         string `json:"reason"`
	// Vouch is the web app's signed word that it authenticated By (a login or
	// an API token) for exactly this cancel (CancelVouchClaims). Without a
	// valid one the cancel still happens, as an operator's: whoever can signal
	// the workflow may cancel it, but the record says Guildhall authenticated
	// nobody.
	Vouch *Vouch `json:"vouch,omitempty"`
}

// RecordedReason is the reason a cancel is recorded (and vouched for) with:
// its own, or "cancelled" when it gives none.
func (c Cancel) RecordedReason() string {
	if c.Reason == "" {
		return "cancelled"
	}
	return c.Reason
}

// VouchKindCancel is CancelVouchClaims.Kind.
const VouchKindCancel = "cancel"

// CancelVouchClaims is what a cancel's Vouch signs. Kind (always "cancel") and
// its own field names keep its canonical JSON apart from VouchClaims', so a
// signature's vouch never verifies as a cancel's, nor the other way round.
type CancelVouchClaims struct {
	Kind           string    `json:"kind"`
	CeremonyID     string    `json:"ceremonyId"`
	By             string    `json:"by"`
	ReasonSHA256   string    `json:"reasonSha256"`
	IdempotencyKey string    `json:"idempotencyKey"`
	Level          Assurance `json:"level"`
	Method         string    `json:"method"`
	At             time.Time `json:"at"`
}

// DirectoryChanged is the payload of the `directory-changed` signal: the web and
// the CLI send it to every open ceremony that lists a witness whose standing
// changed, so the ceremony can flag it for its initiator and operators.
type DirectoryChanged struct {
	IdempotencyKey string `json:"idempotencyKey"`
	WitnessID      string `json:"witnessId"`
	Deactivated    bool   `json:"deactivated"`
	By             string `json:"by"`
}

// Signature is an accepted signature as the workflow holds it.
type Signature struct {
	WitnessID      string    `json:"witnessId"`
	Roles          []string  `json:"roles,omitempty"`
	Decision       Decision  `json:"decision"`
	Comment        string    `json:"comment,omitempty"`
	SignedAt       time.Time `json:"signedAt"`
	IdempotencyKey string    `json:"idempotencyKey"`
	Statement      string    `json:"statement,omitempty"`
	Proof          *Proof    `json:"proof,omitempty"`
	Via            string    `json:"via,omitempty"`
	// Assurance is how the signer was authenticated, as the workflow verified it,
	// and AssuranceMethod the means ("passkey", "ed25519", "oidc", "dev-login",
	// "api-token", or "" for operator). Signatures from before assurance was
	// recorded have neither.
	Assurance       Assurance `json:"assurance,omitempty"`
	AssuranceMethod string    `json:"assuranceMethod,omitempty"`
	// Vouch is the web app's vouch a session or token assurance rests on.
	Vouch *Vouch `json:"vouch,omitempty"`
	// HeldRoles are the roles the signer held in the directory when they signed
	// (Roles are those the ceremony lists them with).
	HeldRoles []string `json:"heldRoles,omitempty"`
	// Epoch is the signature epoch it was collected in; an amendment that voids
	// signatures starts a new epoch.
	Epoch int `json:"epoch"`
	// VoidedAt and VoidReason are set on signatures an amendment voided (State.Voided).
	VoidedAt   *time.Time `json:"voidedAt,omitempty"`
	VoidReason string     `json:"voidReason,omitempty"`
}

// Amendment records one accepted spec-changed message.
type Amendment struct {
	Generation     int64     `json:"generation"`
	IdempotencyKey string    `json:"idempotencyKey"`
	At             time.Time `json:"at"`
	// Changes says in plain words what changed, e.g. "witness added: dave".
	Changes []string `json:"changes"`
	// Voided counts the signatures this amendment voided.
	Voided int `json:"voided"`
	// NewEpoch is set when the amendment started a new signature epoch.
	NewEpoch bool `json:"newEpoch,omitempty"`
}

// RejectedMessage records a message the workflow refused, so bad input is visible
// in the state instead of failing the workflow.
type RejectedMessage struct {
	Name           string    `json:"name"` // signal or update name
	IdempotencyKey string    `json:"idempotencyKey,omitempty"`
	WitnessID      string    `json:"witnessId,omitempty"`
	Reason         string    `json:"reason"`
	At             time.Time `json:"at"`
}

// State is the answer of the `status` query and of a successful `sign` update.
type State struct {
	CeremonyID string      `json:"ceremonyId"`
	Spec       Spec        `json:"spec"`
	Status     Status      `json:"status"`
	Reason     string      `json:"reason,omitempty"`
	OpenedAt   time.Time   `json:"openedAt"`
	ClosedAt   *time.Time  `json:"closedAt,omitempty"`
	Signatures []Signature `json:"signatures"`
	// Pending lists witnesses who have not signed, sorted.
	Pending    []string          `json:"pending"`
	Approvals  int               `json:"approvals"`
	Rejections int               `json:"rejections"`
	Rejected   []RejectedMessage `json:"rejected,omitempty"`

	// Generation is the spec generation in force (see SpecChanged).
	Generation int64 `json:"generation"`
	// Epoch counts signature voidings; Signatures all belong to this epoch or,
	// for witnesses kept through a witness-only amendment, an earlier one.
	Epoch int `json:"epoch"`
	// Voided are signatures an amendment voided, oldest first.
	Voided []Signature `json:"voided,omitempty"`
	// Amendments are the accepted spec changes, oldest first.
	Amendments []Amendment `json:"amendments,omitempty"`
	// RemindersSent counts reminder notifications sent for the current deadline.
	RemindersSent int `json:"remindersSent"`
	// QuorumReachedAt is when the quorum was last met.
	QuorumReachedAt *time.Time `json:"quorumReachedAt,omitempty"`
	// Attention is set when the ceremony needs an operator (AttentionSubstrateTimeout,
	// AttentionWitnessDeactivated).
	Attention string `json:"attention,omitempty"`
	// Deactivated lists, sorted, the witnesses still to sign whom the directory
	// has deactivated (directory-changed).
	Deactivated []string `json:"deactivated,omitempty"`
	// Runs counts workflow runs: 1 plus the number of continue-as-new.
	Runs int `json:"runs,omitempty"`
	// RejectedCount counts every refused message; Rejected lists the latest 200.
	RejectedCount int `json:"rejectedCount,omitempty"`
	// CloseAssurance is how whoever cancelled the ceremony was authenticated,
	// as the workflow verified the cancel's vouch (session, token, or operator
	// for a cancel sent to Temporal directly), and CloseAssuranceMethod the
	// means. Cancels from before this was recorded, and other outcomes, have
	// neither.
	CloseAssurance       Assurance `json:"closeAssurance,omitempty"`
	CloseAssuranceMethod string    `json:"closeAssuranceMethod,omitempty"`
}

// The Graph bridge's workflows. A sealed ceremony with an Intune target starts
// IntuneDeploy as a child it does not wait for (its outcome is final
// already); a revoked artifact, an operator's re-apply and the drift check
// start it too. IntuneDriftCheck runs on the Temporal Schedule
// IntuneDriftSchedule, which the worker keeps when the bridge is configured.
const (
	WorkflowIntuneDeploy     = "IntuneDeploy"
	WorkflowIntuneDriftCheck = "IntuneDriftCheck"
	IntuneDriftSchedule      = "intune-drift"
)

// Attention reasons of the Graph bridge's workflows (the CeremonyAttention
// search attribute on them, and the dashboard).
const (
	// AttentionIntuneFailing: carrying a decision out keeps failing (Graph
	// unreachable or refusing); it is still being retried.
	AttentionIntuneFailing = "intune_failing"
	// AttentionIntuneDrift: Intune's assignments differ from a sealed decision.
	AttentionIntuneDrift = "intune_drift"
)

// IntuneWorkflowID is the id of the IntuneDeploy run that carries out decision
// d for a ceremony: one at a time per ceremony and decision.
func IntuneWorkflowID(ceremonyID string, d IntuneDecision) string {
	return "intune/" + ceremonyID + "/" + string(d)
}

// Why an IntuneDeploy run was started (IntuneJob.Cause).
const (
	IntuneCauseSealed   = "sealed"      // the ceremony was sealed
	IntuneCauseRevoked  = "revoked"     // a Chronicle artifact.revoked event
	IntuneCauseOperator = "operator"    // re-applied from the artifact page or the CLI
	IntuneCauseDrift    = "drift-check" // the drift check found a revocation not yet carried out
)

// IntuneJob is IntuneDeploy's argument. Target is set when the sealed ceremony
// starts it; otherwise the deployment recorded in the Ops DB is carried out.
//
//	{"ceremonyId":"web/release-vpn-2-4","decision":"released","cause":"operator","by":"ada@guildhouse.dev"}
type IntuneJob struct {
	CeremonyID string         `json:"ceremonyId"`
	Decision   IntuneDecision `json:"decision"`
	Target     *IntuneTarget  `json:"target,omitempty"`
	Digest     string         `json:"artifactDigest,omitempty"`
	Cause      string         `json:"cause"`
	By         string         `json:"by,omitempty"`
}

// Summary is the one line operators see for a deployment run in the Temporal
// UI's list.
func (j IntuneJob) Summary() string {
	verb := "release to Intune"
	if j.Decision == IntuneRevoked {
		verb = "withdraw from Intune"
	}
	return verb + " · " + j.CeremonyID + " · " + j.Cause
}

// Rejection is the error text prefix the `sign` update returns when it refuses a
// request; callers show the rest to people as is.
type Rejection struct {
	Code   string // unknown_witness, not_a_witness, already_signed, closed, invalid, bad_signature, assurance_too_low, deactivated, role_not_held
	Reason string
}

func (r *Rejection) Error() string { return fmt.Sprintf("%s: %s", r.Code, r.Reason) }

// The write-back to the cluster runs as activities in the watcher pods (the only
// pods with a Kubernetes token), so the workflow schedules them by name on their
// own task queue. Ceremonies whose Spec.Source is "cluster" use it.
const (
	AttestationTaskQueue     = "guildhall-cluster"
	ActivityWriteAttestation = "WriteCeremonyAttestation"
	SourceCluster            = "cluster"
)

// MemoResourceUID is the memo key the watcher starts a cluster ceremony with: the
// UID of the Ceremony resource it was opened from, so a later resource of the
// same name is told apart from it.
const MemoResourceUID = "k8sUID"

// Attestation is the input of the WriteCeremonyAttestation activity. Written with
// Live unset (ceremonies opened before change id live-attestation) it is the
// result of one generation: Outcome is quorum_reached or final. Written with Live
// set it is the ceremony's current state, written at opening and after every
// change, and Outcome is the current status (collecting too).
type Attestation struct {
	CeremonyID string // "<namespace>/<name>", Spec.ID
	// Generation the result is for (Spec.Generation); 0 means the Ceremony's
	// current generation.
	Generation int64
	// Outcome: the status (see above).
	Outcome    Status
	Reason     string
	Artifact   Artifact
	Signatures []Signature
	Approvals  int
	Rejections int
	// ChainHead is the hash of the ceremony's newest custody event and
	// ChainLength the number of custody events the ceremony has (set when
	// Outcome is a result).
	ChainHead   string
	ChainLength int64
	// AttestedAt defaults to now.
	AttestedAt time.Time

	Live bool `json:",omitempty"`
	// ResourceUID is the UID of the Ceremony the workflow was opened from
	// (MemoResourceUID); a resource of the same name with another UID is not
	// this ceremony's and is left alone.
	ResourceUID string `json:",omitempty"`
	// Needed is the quorum threshold, Pending the witnesses who have not signed,
	// Deadline the current deadline, Attention the state's Attention.
	Needed    int       `json:",omitempty"`
	Pending   []string  `json:",omitempty"`
	Deadline  time.Time `json:",omitzero"`
	Attention string    `json:",omitempty"`
	// Events to record on the Ceremony, each once (see ResourceEvent).
	Events []ResourceEvent `json:",omitempty"`
	// Refused is the newest generation the workflow refused, while it is newer
	// than Generation.
	Refused *Refusal `json:",omitempty"`
}

// Refusal is a generation of a Ceremony that Guildhall did not apply, and why:
// the CeremonyAttestation's spec.refused (kubectl get cerat, column REFUSED).
type Refusal struct {
	Generation int64 `json:"generation"`
	// Reason is the Event reason: EventSpecRefused, EventSpecIgnored or
	// EventWorkflowIDInUse.
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// AttestationResult is what WriteCeremonyAttestation did. Gone means the Ceremony
// the ceremony was opened from no longer exists (deleted, or replaced by another
// of the same name): nothing was written, and that is not a failure.
type AttestationResult struct {
	Namespace, Name string
	Created         bool
	ResourceVersion string
	Gone            bool `json:",omitempty"`
}

// ResourceEvent is one Kubernetes Event about a Ceremony: one per outcome the
// watcher or the workflow reaches about the resource. Key names the outcome
// (e.g. "spec/3"); the Event's name is derived from the resource's UID and Key,
// so recording it again, after a retry or a restart, finds it already there.
type ResourceEvent struct {
	Key     string
	Warning bool `json:",omitempty"`
	Reason  string
	Message string
}

// Reasons of the Events Guildhall records on Ceremonies. Operators grep for them
// (`kubectl get events --field-selector reason=SpecRefused`); keep them.
const (
	// From the workflow (through the write-back activity).
	EventCeremonyOpened  = "CeremonyOpened"   // Normal: the workflow opened the ceremony
	EventSpecAccepted    = "SpecAccepted"     // Normal: the workflow applied a new generation
	EventSpecRefused     = "SpecRefused"      // Warning: a generation was refused (by the watcher or the workflow)
	EventAttested        = "Attested"         // Normal: quorum reached or sealed
	EventAttestedNoGo    = "AttestedNoQuorum" // Warning: rejected, expired or cancelled
	EventAttentionNeeded = "AttentionNeeded"  // Warning: the ceremony waits for an operator
	// From the watcher.
	EventSpecIgnored       = "SpecIgnored"       // Warning: a generation arrived after the ceremony ended
	EventWorkflowIDInUse   = "WorkflowIDInUse"   // Warning: the workflow id belongs to another ceremony
	EventCeremonyCancelled = "CeremonyCancelled" // Normal: the resource was deleted; the watcher sends its workflow a cancel
)

// ErrCeremonyExists means the ceremony id is taken: a ceremony with it is open,
// ended earlier (ids are never reused), or its Ceremony resource exists. Both the
// workflow client and the cluster creator return errors that wrap it.
var ErrCeremonyExists = errors.New("a ceremony with this id already exists")
