package watcher

import (
	"context"
	"errors"
	"fmt"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/watcher/crd"
)

// Memo fields the watcher adds to the workflows it starts. MemoUID ties a workflow
// to one Ceremony resource, so a re-created resource of the same name is told
// apart from the one the workflow was opened for.
const (
	MemoUID    = contract.MemoResourceUID
	MemoSource = "source"
)

// TemporalWorkflows implements Workflows with the typed ceremony client.
type TemporalWorkflows struct {
	C *ceremonyclient.Client
}

// Lookup reads what the ceremony's workflow (and the runs it continued from)
// received, and which resource opened it.
func (t *TemporalWorkflows) Lookup(ctx context.Context, ceremonyID string) (Ledger, error) {
	h, err := t.C.History(ctx, ceremonyID)
	if err != nil || !h.Exists {
		return Ledger{}, err
	}
	return Ledger{Exists: true, Running: h.Running, UID: h.Memo[MemoUID], Sent: h.SignalKeys}, nil
}

// SignalWithStart starts the workflow for the resource with this UID, or
// signals the running one.
func (t *TemporalWorkflows) SignalWithStart(ctx context.Context, spec contract.Spec, uid string, msg contract.SpecChanged) error {
	err := t.C.SignalWithStart(ctx, spec, map[string]any{MemoUID: uid, MemoSource: crd.Source}, msg)
	if errors.Is(err, ceremonyclient.ErrAlreadyOpen) {
		return fmt.Errorf("%w: %s", ErrIDTaken, contract.WorkflowID(spec.ID))
	}
	return err
}

// Signal sends a signal to the latest run.
func (t *TemporalWorkflows) Signal(ctx context.Context, ceremonyID, name string, payload any) error {
	err := t.C.Signal(ctx, ceremonyID, name, payload)
	if errors.Is(err, ceremonyclient.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrClosed, ceremonyID)
	}
	return err
}

// ListOpen lists the running Ceremony workflows the watcher started (they carry
// MemoUID).
func (t *TemporalWorkflows) ListOpen(ctx context.Context) ([]OpenCeremony, error) {
	es, err := t.C.List(ctx, "ExecutionStatus = 'Running'")
	if err != nil {
		return nil, err
	}
	var out []OpenCeremony
	for _, e := range es {
		if uid := e.Memo[MemoUID]; uid != "" {
			out = append(out, OpenCeremony{CeremonyID: e.CeremonyID, UID: uid})
		}
	}
	return out, nil
}
