package web

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
)

// fakeCeremonies is an in-memory stand-in for the workflow, for handler unit
// tests. It writes the Ops DB like the activities would, so list pages see it.
// The integration and browser tests use the real worker instead.
type fakeCeremonies struct {
	mu     sync.Mutex
	st     *store.Store
	states map[string]*contract.State
	keys   map[string]contract.State
	signs  int // sign updates received
	// queries counts status queries.
	queries int
	// rejectWith, when set, refuses every sign update with this rejection.
	rejectWith *contract.Rejection
	lastReq    contract.SignRequest
	now        func() time.Time
	signals    []sentSignal
	down       bool // Temporal unreachable: opens and signals fail
	// openGate, when set, holds each open until it is closed, after saying so
	// on openEntered: opens in flight together.
	openGate    chan struct{}
	openEntered chan string
	statusErr   error // when set, the status query fails with it
}

func newFake(st *store.Store) *fakeCeremonies {
	return &fakeCeremonies{st: st, states: map[string]*contract.State{}, keys: map[string]contract.State{}, now: time.Now}
}

func (f *fakeCeremonies) Open(ctx context.Context, spec contract.Spec) (string, error) {
	f.mu.Lock()
	gate, entered := f.openGate, f.openEntered
	f.mu.Unlock()
	if gate != nil {
		entered <- spec.ID
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return "", errors.New("connection refused")
	}
	if s, ok := f.states[spec.ID]; ok && s.Status.Open() {
		return "", ceremonyclient.ErrAlreadyOpen
	}
	var pending []string
	for _, w := range spec.Witnesses {
		if w.ID != spec.Initiator && !slices.Contains(pending, w.ID) {
			pending = append(pending, w.ID)
		}
	}
	slices.Sort(pending)
	now := f.now().UTC()
	f.states[spec.ID] = &contract.State{CeremonyID: spec.ID, Spec: spec, Status: contract.StatusCollecting, OpenedAt: now, Pending: pending, Signatures: []contract.Signature{}}
	if f.st != nil {
		if err := f.st.RecordOpened(ctx, store.Opened{Spec: spec, WorkflowID: contract.WorkflowID(spec.ID), RunID: "fake", OpenedAt: now, Pending: pending}); err != nil {
			return "", err
		}
	}
	return "fake", nil
}

func (f *fakeCeremonies) Sign(ctx context.Context, id string, req contract.SignRequest) (contract.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signs++
	f.lastReq = req
	if f.rejectWith != nil {
		return contract.State{}, f.rejectWith
	}
	if st, ok := f.keys[req.IdempotencyKey]; ok {
		return st, nil
	}
	s, ok := f.states[id]
	if !ok {
		return contract.State{}, ceremonyclient.ErrNotFound
	}
	if !s.Status.Open() {
		return *s, &contract.Rejection{Code: "closed", Reason: "the ceremony is " + string(s.Status)}
	}
	if !slices.Contains(s.Pending, req.WitnessID) {
		for _, sg := range s.Signatures {
			if sg.WitnessID == req.WitnessID {
				return *s, &contract.Rejection{Code: "already_signed", Reason: req.WitnessID + " has already signed"}
			}
		}
		return *s, &contract.Rejection{Code: "unknown_witness", Reason: req.WitnessID + " is not a witness of this ceremony"}
	}
	sig := contract.Signature{WitnessID: req.WitnessID, Decision: req.Decision, Comment: req.Comment, SignedAt: f.now().UTC(),
		IdempotencyKey: req.IdempotencyKey, Statement: req.Statement, Proof: req.Proof, Via: req.Via}
	// As the workflow records it (which checks the vouch's signature: not
	// repeated here; workflows and securitytest test that).
	switch {
	case req.Proof != nil:
		sig.Assurance, sig.AssuranceMethod = contract.AssuranceKey, req.Proof.Type
	case req.Vouch != nil:
		sig.Assurance, sig.AssuranceMethod = req.Vouch.Level, req.Vouch.Method
	default:
		sig.Assurance = contract.AssuranceOperator
	}
	s.Signatures = append(s.Signatures, sig)
	s.Pending = slices.DeleteFunc(s.Pending, func(w string) bool { return w == req.WitnessID })
	if req.Decision == contract.Approve {
		s.Approvals++
	} else {
		s.Rejections++
	}
	if s.Approvals >= s.Spec.Quorum.Threshold {
		s.Status = contract.StatusQuorumReached
	}
	if f.st != nil {
		if err := f.st.RecordSignature(ctx, id, sig, store.Tally{Approvals: s.Approvals, Rejections: s.Rejections, Pending: s.Pending}); err != nil {
			return contract.State{}, err
		}
		if s.Status == contract.StatusQuorumReached {
			_ = f.st.RecordStatus(ctx, id, store.StatusChange{Status: s.Status, At: sig.SignedAt})
		}
	}
	f.keys[req.IdempotencyKey] = *s
	return *s, nil
}

// Signal records every signal and applies a cancel as the workflow would;
// with down set it fails as an unreachable Temporal does.
func (f *fakeCeremonies) Signal(ctx context.Context, id, name string, payload any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("connection refused")
	}
	s, ok := f.states[id]
	if !ok {
		return ceremonyclient.ErrNotFound
	}
	f.signals = append(f.signals, sentSignal{id, name, payload})
	if c, ok := payload.(contract.Cancel); ok && name == contract.SignalCancel && !s.Status.Final() {
		now := f.now().UTC()
		s.Status, s.Reason, s.ClosedAt = contract.StatusCancelled, c.Reason, &now
		if f.st != nil {
			// As the workflow does (cancel-assurance): the vouch checked
			// against the web keys registered now.
			wks, err := f.st.WebKeys(ctx)
			if err != nil {
				return err
			}
			var keys []statement.PublicKey
			for _, k := range wks {
				keys = append(keys, statement.PublicKey{WitnessID: statement.WebSigner, Type: statement.KeyEd25519, KeyID: k.KeyID, PublicKey: k.PublicKey})
			}
			level, method, _ := statement.CancelAssurance(id, c, keys)
			s.CloseAssurance, s.CloseAssuranceMethod = level, method
			ch := store.StatusChange{Status: s.Status, Reason: c.Reason, Actor: c.By, At: now, Seq: 1,
				Assurance: level, AssuranceMethod: method, MessageKey: c.IdempotencyKey}
			if level != contract.AssuranceOperator {
				ch.Vouch = c.Vouch
			}
			return f.st.RecordStatus(ctx, id, ch)
		}
	}
	return nil
}

func (f *fakeCeremonies) Status(ctx context.Context, id string) (contract.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries++
	if f.statusErr != nil {
		return contract.State{}, f.statusErr
	}
	s, ok := f.states[id]
	if !ok {
		return contract.State{}, ceremonyclient.ErrNotFound
	}
	out := *s
	out.Signatures = slices.Clone(s.Signatures)
	out.Pending = slices.Clone(s.Pending)
	return out, nil
}

// mutate changes a ceremony's state in place (tests: amendments, cancellation).
func (f *fakeCeremonies) mutate(id string, fn func(*contract.State)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.states[id])
}

func (f *fakeCeremonies) queryCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries
}

func (f *fakeCeremonies) signCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.signs
}

type sentSignal struct {
	ID, Name string
	Payload  any
}
