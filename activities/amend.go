package activities

import (
	"context"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/store"
)

// The inputs below are recorded in workflow histories: their JSON shape is part of
// every running ceremony. They are this package's own, so a change to the store
// cannot change what a history holds; add fields, never rename them.

// VoidedSignature names a signature an amendment voids.
type VoidedSignature struct {
	WitnessID string `json:"witnessId"`
	Epoch     int    `json:"epoch"`
}

// Amended is the input of RecordAmended.
type Amended struct {
	Spec       contract.Spec
	Generation int64
	// MessageKey is the idempotency key of the spec-changed message.
	MessageKey string
	At         time.Time
	Changes    []string
	// Epoch is the ceremony's signature epoch after the amendment.
	Epoch      int
	Voided     []VoidedSignature
	VoidReason string
	Approvals  int
	Rejections int
	Pending    []string
	Status     contract.Status
}

// RecordAmended writes an accepted amendment: the ceremony row, voided
// signatures and their custody events.
func (a *Activities) RecordAmended(ctx context.Context, in Amended) error {
	voided := make([]store.VoidedSignature, len(in.Voided))
	for i, v := range in.Voided {
		voided[i] = store.VoidedSignature(v)
	}
	return a.Store.RecordAmended(ctx, store.Amendment{Spec: in.Spec, Generation: in.Generation, MessageKey: in.MessageKey,
		At: in.At, Changes: in.Changes, Voiding: store.Voiding{Epoch: in.Epoch, Voided: voided, VoidReason: in.VoidReason},
		Status: in.Status, Tally: store.Tally{Approvals: in.Approvals, Rejections: in.Rejections, Pending: in.Pending}})
}

// Attention is the input of RecordAttention.
type Attention struct {
	CeremonyID string
	Reason     string // contract.Attention…
	Detail     string
	At         time.Time
	Seq        int
}

// RecordAttention records that a ceremony needs an operator.
func (a *Activities) RecordAttention(ctx context.Context, in Attention) error {
	return a.Store.RecordAttention(ctx, in.CeremonyID, store.Attention{Reason: in.Reason, Detail: in.Detail, At: in.At, Seq: in.Seq})
}
