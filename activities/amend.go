package activities

import (
	"context"

	"github.com/guildhouse/guildhall/store"
)

// Amended is the input of RecordAmended.
type Amended = store.Amended

// RecordAmended writes an accepted amendment: the ceremony row, voided
// signatures and their custody events.
func (a *Activities) RecordAmended(ctx context.Context, in Amended) error {
	return a.Store.RecordAmended(ctx, in)
}

// Attention is the input of RecordAttention.
type Attention = store.Attention

// RecordAttention records that a ceremony needs an operator.
func (a *Activities) RecordAttention(ctx context.Context, in Attention) error {
	return a.Store.RecordAttention(ctx, in)
}

// VoidedSignature names a signature row an amendment voids.
type VoidedSignature = store.VoidedSignature
