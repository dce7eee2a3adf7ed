package watcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/watcher/attest"
	"github.com/guildhouse/guildhall/watcher/crd"
)

// errRequeue asks for the key to be synced again later without counting an error:
// the watcher is waiting for something in Temporal to settle.
var errRequeue = errors.New("requeue")

// syncer maps the state of one Ceremony to the contract messages it still owes the
// workflow. The work queue never hands one key to two workers at once, so a
// key's ledger is only touched by one goroutine at a time; the lock guards the maps.
type syncer struct {
	wf      Workflows
	notes   Notes
	metrics *Metrics
	log     *slog.Logger
	now     func() time.Time
	get     func(key string) (*unstructured.Unstructured, bool, error)

	mu      sync.Mutex
	ledgers map[string]*Ledger   // ceremony id → what its workflow has received
	tombs   map[string]string    // ceremony id → UID of a deleted Ceremony owed a cancel
	refused map[string]int64     // UID → generation whose refusal is recorded (saves re-reading it)
	seen    map[string]time.Time // ceremony id → first unsynced event, for latency
}

func newSyncer(wf Workflows, notes Notes, m *Metrics, log *slog.Logger, now func() time.Time,
	get func(string) (*unstructured.Unstructured, bool, error)) *syncer {
	return &syncer{wf: wf, notes: notes, metrics: m, log: log, now: now, get: get,
		ledgers: map[string]*Ledger{}, tombs: map[string]string{}, refused: map[string]int64{}, seen: map[string]time.Time{}}
}

// sync brings the workflow of ceremony key up to date with the Ceremony's state.
func (s *syncer) sync(ctx context.Context, key string) error {
	obj, exists, err := s.get(key)
	if err != nil {
		return fmt.Errorf("read %s from the informer cache: %w", key, err)
	}
	if !exists {
		return s.syncDeleted(ctx, key, s.tomb(key))
	}
	if obj.GetDeletionTimestamp() != nil {
		// Another controller's finalizer holds the resource; it is going away all the same.
		return s.syncDeleted(ctx, key, string(obj.GetUID()))
	}
	return s.syncPresent(ctx, key, obj)
}

func (s *syncer) syncDeleted(ctx context.Context, key, uid string) error {
	if uid == "" {
		return nil
	}
	led, err := s.ledger(ctx, key)
	if err != nil {
		return err
	}
	if led.Exists && led.UID == uid && led.Running && !led.has(CancelKey(uid)) {
		if err := s.cancel(ctx, key, uid, led); err != nil {
			return err
		}
	}
	s.forgetResource(key, uid)
	// A later resource of the same name starts from what Temporal says, and the
	// cache stays the size of the live Ceremonies.
	s.forgetLedger(key)
	return nil
}

func (s *syncer) syncPresent(ctx context.Context, key string, obj *unstructured.Unstructured) error {
	uid := string(obj.GetUID())
	led, err := s.ledger(ctx, key)
	if err != nil {
		return err
	}
	switch {
	case led.Exists && led.UID == "" && led.Running:
		if s.wasRefused(uid, obj.GetGeneration()) {
			return nil // already recorded; resyncs need not ask the cluster again
		}
		return s.refuse(ctx, obj, contract.EventWorkflowIDInUse, false, fmt.Sprintf(
			"Generation %d not sent: workflow %s is running and was not opened from this cluster; rename the Ceremony",
			obj.GetGeneration(), contract.WorkflowID(key)))
	case led.Exists && led.UID != uid && led.Running:
		return s.replace(ctx, key, led)
	case led.Exists && led.UID != uid:
		// The closed run belonged to an earlier resource of the same name; what it
		// received says nothing about this one.
		*led = Ledger{}
	}
	if err := s.syncSpec(ctx, key, obj, led); err != nil || !led.Exists {
		return err
	}
	return s.syncPhase(ctx, key, obj, led)
}

// replace cancels the workflow of a deleted Ceremony whose name has been reused by a
// new one (the delete event was missed, or both landed in one sync), then waits for
// it to close: signalling the new spec into the old run would merge two ceremonies.
func (s *syncer) replace(ctx context.Context, key string, led *Ledger) error {
	old := led.UID
	if !led.has(CancelKey(old)) {
		if err := s.cancel(ctx, key, old, led); err != nil {
			return err
		}
	}
	s.forgetLedger(key)
	return fmt.Errorf("%w: waiting for the workflow of the deleted Ceremony %s to close", errRequeue, old)
}

func (s *syncer) syncSpec(ctx context.Context, key string, obj *unstructured.Unstructured, led *Ledger) error {
	uid, gen := string(obj.GetUID()), obj.GetGeneration()
	k := SpecKey(uid, gen)
	if led.has(k) || s.wasRefused(uid, gen) {
		return nil
	}
	if led.Exists && !led.Running {
		return s.ignore(ctx, key, obj, led)
	}
	spec, problems := Validate(obj, s.now())
	if len(problems) > 0 {
		msg := fmt.Sprintf("Generation %d not sent to Guildhall: %s. ", gen, strings.Join(problems, "; "))
		if led.Exists {
			msg += "The ceremony keeps its last accepted generation; fix the spec to amend it."
		} else {
			msg += "No ceremony was opened; fix the spec to open one."
		}
		return s.refuse(ctx, obj, contract.EventSpecRefused, led.Exists, msg)
	}
	msg := contract.SpecChanged{IdempotencyKey: k, Generation: gen, Spec: spec}
	if !led.Exists {
		return s.start(ctx, key, obj, led, msg)
	}
	// The workflow announces whether it accepted the generation (SpecAccepted
	// or SpecRefused), unless it had ended before the message arrived.
	if err := s.send(ctx, key, KindSpec, k, msg, led); err != nil || led.Running {
		return err
	}
	return s.ignore(ctx, key, obj, led)
}

// ignore records that a generation arrived after the ceremony ended.
func (s *syncer) ignore(ctx context.Context, key string, obj *unstructured.Unstructured, led *Ledger) error {
	gen := obj.GetGeneration()
	if err := s.refuse(ctx, obj, contract.EventSpecIgnored, true, fmt.Sprintf(
		"Generation %d not applied: the ceremony (workflow %s) has ended, and an ended ceremony cannot be amended. "+
			"Its workflow id is never reused: for a new decision create a Ceremony under another name.",
		gen, contract.WorkflowID(key))); err != nil {
		return err
	}
	led.mark(SpecKey(string(obj.GetUID()), gen))
	return nil
}

func (s *syncer) start(ctx context.Context, key string, obj *unstructured.Unstructured, led *Ledger, msg contract.SpecChanged) error {
	uid := string(obj.GetUID())
	err := s.wf.SignalWithStart(ctx, msg.Spec, uid, msg)
	if errors.Is(err, ErrIDTaken) {
		return s.refuse(ctx, obj, contract.EventWorkflowIDInUse, false, fmt.Sprintf(
			"Generation %d not sent: workflow %s already ran for an earlier Ceremony of this name (deleting a Ceremony cancels it for good) "+
				"and ids are never reused; rename the Ceremony", msg.Generation, contract.WorkflowID(key)))
	}
	if err != nil {
		s.forgetLedger(key)
		s.metrics.Errors.WithLabelValues("start").Inc()
		return fmt.Errorf("start workflow for %s generation %d: %w", key, msg.Generation, err)
	}
	// The workflow announces the opening (CeremonyOpened) once it has opened.
	led.Exists, led.Running, led.UID = true, true, uid
	led.mark(msg.IdempotencyKey)
	s.sent(key, KindStart, msg.IdempotencyKey)
	return nil
}

// cancel sends the workflow of a deleted Ceremony (uid) a cancel. The Event goes
// first, under a name fixed by the UID: if the signal then fails, or the watcher
// dies before sending it, the retry (or the next leader's sweep) finds the Event
// there and announces nothing twice. So the Event says what the watcher does,
// not what the workflow makes of it: a ceremony already decided keeps its
// outcome (the workflow answers "already sealed", say), and the workflow
// announces nothing about a cancel itself.
func (s *syncer) cancel(ctx context.Context, key, uid string, led *Ledger) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	ev := contract.ResourceEvent{Key: "cancel", Reason: contract.EventCeremonyCancelled, Message: fmt.Sprintf(
		"Ceremony deleted: sending workflow %s a cancel (%s); a ceremony still open ends cancelled, "+
			"one already decided keeps its outcome. Its id is never reused: "+
			"a Ceremony created again under this name will not open.", contract.WorkflowID(key), CancelReasonDeleted)}
	if err := s.notes.Announce(ctx, attest.CeremonyRef(ns, name, types.UID(uid)), ev); err != nil {
		s.metrics.Errors.WithLabelValues("record").Inc()
		return err
	}
	msg := contract.Cancel{IdempotencyKey: CancelKey(uid), By: "watcher", Reason: CancelReasonDeleted}
	return s.send(ctx, key, KindCancel, msg.IdempotencyKey, msg, led)
}

func (s *syncer) syncPhase(ctx context.Context, key string, obj *unstructured.Unstructured, led *Ledger) error {
	st := crd.ReadStatus(obj)
	if st.Phase == "" {
		return nil
	}
	uid := string(obj.GetUID())
	k := DecisionKey(uid, st.Phase, st.ObservedGeneration)
	if led.has(k) {
		return nil
	}
	if !led.Running {
		led.mark(k)
		return nil
	}
	gen := st.ObservedGeneration
	if gen == 0 {
		gen = obj.GetGeneration()
	}
	msg := contract.SubstrateDecision{IdempotencyKey: k, Phase: st.Phase, Generation: gen, Reason: st.Reason}
	return s.send(ctx, key, KindDecision, k, msg, led)
}

// send delivers one signal and records it in the ledger. A closed workflow is not
// an error: the ceremony is over and the message has nothing left to change.
func (s *syncer) send(ctx context.Context, key, kind, msgKey string, payload any, led *Ledger) error {
	err := s.wf.Signal(ctx, key, kind, payload)
	switch {
	case errors.Is(err, ErrClosed):
		s.log.Info("ceremony workflow already closed; message dropped", "ceremony", key, "signal", kind, "key", msgKey)
		led.Running = false
		led.mark(msgKey)
		return nil
	case err != nil:
		// The signal may have landed before the error; re-reading the history on
		// the retry keeps that from becoming a duplicate.
		s.forgetLedger(key)
		s.metrics.Errors.WithLabelValues("signal").Inc()
		return fmt.Errorf("send %s to %s: %w", kind, key, err)
	}
	led.mark(msgKey)
	s.sent(key, kind, msgKey)
	return nil
}

func (s *syncer) sent(key, kind, msgKey string) {
	s.metrics.MessagesSent.WithLabelValues(kind).Inc()
	s.mu.Lock()
	first, ok := s.seen[key]
	s.mu.Unlock()
	if ok {
		s.metrics.Latency.Observe(s.now().Sub(first).Seconds())
	}
	s.log.Info("message sent", "ceremony", key, "kind", kind, "key", msgKey)
}

// refuse records that obj's generation is not forwarded and why: a Warning
// Event and the attestation's spec.refused, once per generation however often
// the resource is synced, by however many watchers and restarts (the
// attestation remembers). opened says whether the Ceremony has a workflow.
func (s *syncer) refuse(ctx context.Context, obj *unstructured.Unstructured, reason string, opened bool, msg string) error {
	uid, gen := string(obj.GetUID()), obj.GetGeneration()
	announced, err := s.notes.Refuse(ctx, obj, attest.Refusal{Generation: gen, Reason: reason, Message: msg}, opened)
	if err != nil {
		s.metrics.Errors.WithLabelValues("record").Inc()
		return fmt.Errorf("record that generation %d of %s is refused: %w", gen, crd.CeremonyID(obj.GetNamespace(), obj.GetName()), err)
	}
	s.mu.Lock()
	s.refused[uid] = gen
	s.mu.Unlock()
	if announced {
		s.metrics.Refused.Inc()
		s.log.Warn("ceremony generation not forwarded", "ceremony", crd.CeremonyID(obj.GetNamespace(), obj.GetName()),
			"uid", uid, "generation", gen, "reason", reason, "message", msg)
	}
	return nil
}

func (s *syncer) wasRefused(uid string, gen int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.refused[uid]
	return ok && g == gen
}

// ledger returns the cached ledger of key, reading it from Temporal on first use
// (after a start, a restart or a leadership change).
func (s *syncer) ledger(ctx context.Context, key string) (*Ledger, error) {
	s.mu.Lock()
	l := s.ledgers[key]
	s.mu.Unlock()
	if l != nil {
		return l, nil
	}
	got, err := s.wf.Lookup(ctx, key)
	if err != nil {
		s.metrics.Errors.WithLabelValues("lookup").Inc()
		return nil, fmt.Errorf("look up workflow of %s: %w", key, err)
	}
	s.mu.Lock()
	s.ledgers[key] = &got
	s.mu.Unlock()
	return &got, nil
}

func (s *syncer) forgetLedger(key string) {
	s.mu.Lock()
	delete(s.ledgers, key)
	s.mu.Unlock()
}

func (s *syncer) forgetResource(key, uid string) {
	s.mu.Lock()
	if s.tombs[key] == uid {
		delete(s.tombs, key)
	}
	delete(s.refused, uid)
	s.mu.Unlock()
}

// observe notes when an event for key arrived; the first unsynced one counts.
func (s *syncer) observe(key string, at time.Time) {
	s.mu.Lock()
	if _, ok := s.seen[key]; !ok {
		s.seen[key] = at
	}
	s.mu.Unlock()
}

func (s *syncer) synced(key string) {
	s.mu.Lock()
	delete(s.seen, key)
	s.mu.Unlock()
}

// deleted remembers the UID of a deleted Ceremony until its cancel is sent.
func (s *syncer) deleted(key, uid string) {
	s.mu.Lock()
	s.tombs[key] = uid
	s.mu.Unlock()
}

func (s *syncer) tomb(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tombs[key]
}

// sweep finds workflows the watcher opened whose Ceremony is gone: deleted while no
// watcher was leading, so no delete event will ever come. It queues their cancel.
func (s *syncer) sweep(ctx context.Context, inScope func(namespace string) bool, enqueue func(key string)) error {
	open, err := s.wf.ListOpen(ctx)
	if err != nil {
		s.metrics.Errors.WithLabelValues("sweep").Inc()
		return fmt.Errorf("list open ceremony workflows: %w", err)
	}
	for _, o := range open {
		ns, _, err := cache.SplitMetaNamespaceKey(o.CeremonyID)
		if err != nil || !inScope(ns) {
			continue
		}
		obj, exists, _ := s.get(o.CeremonyID)
		if exists && string(obj.GetUID()) == o.UID {
			continue
		}
		if !exists {
			s.mu.Lock()
			if s.tombs[o.CeremonyID] == "" {
				s.tombs[o.CeremonyID] = o.UID
			}
			s.mu.Unlock()
		}
		s.log.Info("open workflow without its Ceremony; queueing cancel", "ceremony", o.CeremonyID, "uid", o.UID)
		enqueue(o.CeremonyID)
	}
	return nil
}
