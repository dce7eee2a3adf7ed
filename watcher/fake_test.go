package watcher

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/guildhouse/guildhall/contract"
)

// fakeWorkflows is an in-memory Temporal: runs keyed by ceremony id, each with the
// keys it received, the id reuse policy REJECT_DUPLICATE, and a workflow that
// closes when it receives cancel. It records every call for assertions.
type fakeWorkflows struct {
	mu      sync.Mutex
	runs    map[string]*fakeRun
	msgs    []fakeMsg
	lookups int
	// failNext makes the next n sends of a kind fail with a transport error after
	// delivering (lost response) when deliverOnFail is true.
	failNext      map[string]int
	deliverOnFail bool
}

type fakeRun struct {
	uid     string
	running bool
	keys    map[string]bool
	spec    contract.Spec
}

type fakeMsg struct {
	ceremony, kind, key string
	payload             any
}

func newFakeWorkflows() *fakeWorkflows {
	return &fakeWorkflows{runs: map[string]*fakeRun{}, failNext: map[string]int{}}
}

var errTransport = errors.New("transport: connection reset")

func (f *fakeWorkflows) Lookup(_ context.Context, id string) (Ledger, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	r := f.runs[id]
	if r == nil {
		return Ledger{}, nil
	}
	sent := map[string]bool{}
	for k := range r.keys {
		sent[k] = true
	}
	return Ledger{Exists: true, Running: r.running, UID: r.uid, Sent: sent}, nil
}

func (f *fakeWorkflows) fail(kind string) bool {
	if f.failNext[kind] > 0 {
		f.failNext[kind]--
		return true
	}
	return false
}

func (f *fakeWorkflows) SignalWithStart(_ context.Context, spec contract.Spec, uid string, msg contract.SpecChanged) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	failing := f.fail(KindStart)
	if failing && !f.deliverOnFail {
		return errTransport
	}
	r := f.runs[spec.ID]
	switch {
	case r == nil:
		r = &fakeRun{uid: uid, running: true, keys: map[string]bool{}, spec: spec}
		f.runs[spec.ID] = r
		f.msgs = append(f.msgs, fakeMsg{spec.ID, KindStart, msg.IdempotencyKey, msg})
	case !r.running:
		return fmt.Errorf("%w: %s", ErrIDTaken, spec.ID)
	default:
		f.msgs = append(f.msgs, fakeMsg{spec.ID, KindSpec, msg.IdempotencyKey, msg})
	}
	r.keys[msg.IdempotencyKey] = true
	if failing {
		return errTransport
	}
	return nil
}

func (f *fakeWorkflows) Signal(_ context.Context, id, name string, payload any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	failing := f.fail(name)
	if failing && !f.deliverOnFail {
		return errTransport
	}
	r := f.runs[id]
	if r == nil || !r.running {
		return fmt.Errorf("%w: %s", ErrClosed, id)
	}
	key := payloadKey(payload)
	r.keys[key] = true
	f.msgs = append(f.msgs, fakeMsg{id, name, key, payload})
	if name == contract.SignalCancel {
		r.running = false
	}
	if failing {
		return errTransport
	}
	return nil
}

func payloadKey(p any) string {
	switch v := p.(type) {
	case contract.SpecChanged:
		return v.IdempotencyKey
	case contract.SubstrateDecision:
		return v.IdempotencyKey
	case contract.Cancel:
		return v.IdempotencyKey
	}
	return ""
}

func (f *fakeWorkflows) ListOpen(context.Context) ([]OpenCeremony, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []OpenCeremony
	for id, r := range f.runs {
		if r.running && r.uid != "" {
			out = append(out, OpenCeremony{CeremonyID: id, UID: r.uid})
		}
	}
	return out, nil
}

func (f *fakeWorkflows) messages() []fakeMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeMsg(nil), f.msgs...)
}

func (f *fakeWorkflows) kinds() []string {
	var out []string
	for _, m := range f.messages() {
		out = append(out, m.kind)
	}
	return out
}

// duplicates counts messages whose (ceremony, key) was already delivered.
func (f *fakeWorkflows) duplicates() int {
	seen := map[string]bool{}
	n := 0
	for _, m := range f.messages() {
		k := m.ceremony + "|" + m.key
		if seen[k] {
			n++
		}
		seen[k] = true
	}
	return n
}
