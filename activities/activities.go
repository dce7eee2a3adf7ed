// Package activities holds the Ceremony workflow's side effects: every write to the
// Ops DB goes through here, each one idempotent so Temporal may retry it freely.
package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/notify"
	"github.com/guildhouse/guildhall/store"
)

// Activities are registered on the worker as one struct; the workflow refers to
// the methods, which fixes the activity names.
type Activities struct {
	Store *store.Store
	// Notifiers deliver notifications (see notify.New); none means the
	// development recorder, which logs.
	Notifiers []notify.Notifier
	// BaseURL is the web app's public URL, for links in notifications.
	BaseURL string
	// Graph carries sealed decisions out in Intune (the Graph bridge); nil when
	// GRAPH_* is not configured: deployments then wait, pending.
	Graph Graph
	// IntuneHeartbeat is how often a carry-out tells Temporal it is alive
	// (zero: DefaultIntuneHeartbeat).
	IntuneHeartbeat time.Duration
}

// Opened is the input of RecordOpened.
type Opened struct {
	Spec     contract.Spec
	OpenedAt time.Time
	Pending  []string
}

// RecordOpened writes the ceremony row, its artifact and the opened custody event.
func (a *Activities) RecordOpened(ctx context.Context, in Opened) error {
	info := activity.GetInfo(ctx)
	return a.Store.RecordOpened(ctx, store.Opened{
		Spec: in.Spec, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
		OpenedAt: in.OpenedAt, Pending: in.Pending,
	})
}

// Signed is the input of RecordSignature.
type Signed struct {
	CeremonyID string
	Epoch      int
	Signature  contract.Signature
	Approvals  int
	Rejections int
	Pending    []string
}

// RecordSignature stores an accepted signature and its custody event.
func (a *Activities) RecordSignature(ctx context.Context, in Signed) error {
	sig := in.Signature
	sig.Epoch = in.Epoch
	return a.Store.RecordSignature(ctx, in.CeremonyID, sig, store.Tally{Approvals: in.Approvals, Rejections: in.Rejections, Pending: in.Pending})
}

// StatusChanged is the input of RecordStatus.
type StatusChanged struct {
	CeremonyID string
	Status     contract.Status
	Reason     string
	At         time.Time
	Actor      string
	Seq        int
	// A cancel on the cancel-assurance path says how its sender was
	// authenticated (see store.StatusChange); the store copies the vouching
	// web key's public key next to the vouch.
	Assurance       contract.Assurance `json:",omitempty"`
	AssuranceMethod string             `json:",omitempty"`
	Vouch           *contract.Vouch    `json:",omitempty"`
	MessageKey      string             `json:",omitempty"`
}

// RecordStatus stores a status change and its custody event.
func (a *Activities) RecordStatus(ctx context.Context, in StatusChanged) error {
	return a.Store.RecordStatus(ctx, in.CeremonyID, store.StatusChange{Status: in.Status, Reason: in.Reason, At: in.At, Actor: in.Actor, Seq: in.Seq,
		Assurance: in.Assurance, AssuranceMethod: in.AssuranceMethod, Vouch: in.Vouch, MessageKey: in.MessageKey})
}

// Rejected is the input of RecordRejected.
type Rejected struct {
	CeremonyID string
	Message    contract.RejectedMessage
	Seq        int
}

// RecordRejected puts a refused message on the custody chain, so refusals are as
// auditable as acceptances.
func (a *Activities) RecordRejected(ctx context.Context, in Rejected) error {
	_, err := a.Store.AppendCustody(ctx, store.NewEvent{
		Type: custody.TypeMessageRejected, CeremonyID: in.CeremonyID, Actor: in.Message.WitnessID,
		IdempotencyKey: fmt.Sprintf("rejected/%s/%d", in.CeremonyID, in.Seq),
		OccurredAt:     in.Message.At, Data: in.Message,
	})
	return err
}
