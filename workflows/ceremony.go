// Package workflows holds the Ceremony workflow: one durable workflow per ceremony,
// collecting witness signatures until the quorum policy decides.
//
// Determinism rules for this package: no time.Now (use workflow.Now), no rand, no
// I/O (activities do it), never range over a map to produce output or commands,
// and behaviour changes go behind workflow.GetVersion (see ARCHITECTURE.md).
package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/quorum"
)

// activityOptions retry Ops DB writes until they succeed: a database outage
// delays the record, it never loses it.
var activityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    200 * time.Millisecond,
		BackoffCoefficient: 2,
		MaximumInterval:    10 * time.Second,
	},
}

// a is only used for method references; its fields are never touched here.
var a *activities.Activities

// inboxItem is a sign request from the update handler, processed by the main loop
// in arrival order so signals and updates share one path.
type inboxItem struct {
	req  contract.SignRequest
	done *outcome
}

type outcome struct {
	finished bool
	err      error
}

// ceremony is the workflow's state and logic.
type ceremony struct {
	st       contract.State
	members  []quorum.Member
	epoch    int
	seen     map[string]error // idempotency key → answer given (nil = accepted)
	inbox    workflow.Channel
	statusNo int
	rejectNo int
}

// Ceremony is the workflow. It returns the final state.
func Ceremony(ctx workflow.Context, spec contract.Spec) (contract.State, error) {
	c := &ceremony{seen: map[string]error{}}
	c.st = contract.State{CeremonyID: spec.ID, Spec: spec, Status: contract.StatusCollecting,
		OpenedAt: workflow.Now(ctx), Signatures: []contract.Signature{}}
	c.setSpec(spec)
	c.inbox = workflow.NewBufferedChannel(ctx, 1024)
	if err := c.registerHandlers(ctx); err != nil {
		return c.st, err
	}
	actx := workflow.WithActivityOptions(ctx, activityOptions)
	if err := workflow.ExecuteActivity(actx, a.RecordOpened, activities.Opened{
		Spec: spec, OpenedAt: c.st.OpenedAt, Pending: c.st.Pending}).Get(ctx, nil); err != nil {
		return c.st, fmt.Errorf("record opened ceremony: %w", err)
	}
	if problem := validateSpec(spec); problem != "" {
		c.setStatus(actx, contract.StatusRejected, "invalid spec: "+problem, spec.Initiator)
	} else {
		c.evaluate(actx)
	}
	c.run(ctx, actx)
	c.drain(ctx, actx)
	return c.st, nil
}

// drain answers updates that were validated while the ceremony was open but
// reached the inbox after it closed, so no caller waits forever and the workflow
// completes only when every handler has finished.
func (c *ceremony) drain(ctx, actx workflow.Context) {
	for {
		_ = workflow.Await(ctx, func() bool { return c.inbox.Len() > 0 || workflow.AllHandlersFinished(ctx) })
		var item inboxItem
		if !c.inbox.ReceiveAsync(&item) {
			return
		}
		item.done.err = c.sign(actx, item.req, contract.UpdateSign)
		item.done.finished = true
	}
}

func (c *ceremony) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, contract.QueryStatus, func() (contract.State, error) {
		return c.st, nil
	}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateSign,
		func(ctx workflow.Context, raw json.RawMessage) (contract.State, error) {
			req, _ := decodeSign(raw) // the validator already accepted it
			if err, dup := c.seen[req.IdempotencyKey]; dup {
				return c.st, err
			}
			o := &outcome{}
			c.inbox.Send(ctx, inboxItem{req: req, done: o})
			if err := workflow.Await(ctx, func() bool { return o.finished }); err != nil {
				return c.st, err
			}
			return c.st, o.err
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, raw json.RawMessage) error {
			req, err := decodeSign(raw)
			if err != nil {
				return err
			}
			if err, dup := c.seen[req.IdempotencyKey]; dup {
				return err // same answer as the first time; nil lets the handler repeat it
			}
			return c.check(req)
		}},
	)
}

// run is the main loop: it processes messages until the ceremony is final.
func (c *ceremony) run(ctx, actx workflow.Context) {
	sigCh := workflow.GetSignalChannel(ctx, contract.SignalWitnessSignature)
	cancelCh := workflow.GetSignalChannel(ctx, contract.SignalCancel)
	decisionCh := workflow.GetSignalChannel(ctx, contract.SignalSubstrateDecision)
	timerCtx, stopTimer := workflow.WithCancel(ctx)
	defer stopTimer()
	deadline := workflow.NewTimer(timerCtx, max(c.st.Spec.Deadline.Sub(workflow.Now(ctx)), 0))
	expired := false
	for !c.st.Status.Final() {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(c.inbox, func(ch workflow.ReceiveChannel, _ bool) {
			var item inboxItem
			ch.Receive(ctx, &item)
			item.done.err = c.sign(actx, item.req, contract.UpdateSign)
			item.done.finished = true
		})
		sel.AddReceive(sigCh, func(ch workflow.ReceiveChannel, _ bool) {
			var raw json.RawMessage
			ch.Receive(ctx, &raw)
			req, err := decodeSign(raw)
			if err != nil {
				c.reject(actx, contract.SignalWitnessSignature, req, err)
				return
			}
			if _, dup := c.seen[req.IdempotencyKey]; dup {
				return
			}
			_ = c.sign(actx, req, contract.SignalWitnessSignature)
		})
		sel.AddReceive(decisionCh, func(ch workflow.ReceiveChannel, _ bool) {
			var raw json.RawMessage
			ch.Receive(ctx, &raw)
			c.substrateDecision(actx, raw)
		})
		sel.AddReceive(cancelCh, func(ch workflow.ReceiveChannel, _ bool) {
			var raw json.RawMessage
			ch.Receive(ctx, &raw)
			c.cancel(actx, raw)
		})
		if !expired && c.st.Status == contract.StatusCollecting {
			sel.AddFuture(deadline, func(workflow.Future) {
				expired = true
				c.setStatus(actx, contract.StatusExpired, "deadline passed without quorum", "")
			})
		}
		sel.Select(ctx)
	}
}

// sign processes one sign request from either channel. The returned error is the
// rejection the caller sees.
func (c *ceremony) sign(actx workflow.Context, req contract.SignRequest, via string) error {
	if err := c.check(req); err != nil {
		c.reject(actx, via, req, err)
		return err
	}
	sig := contract.Signature{
		WitnessID: req.WitnessID, Roles: c.rolesOf(req.WitnessID), Decision: req.Decision, Comment: req.Comment,
		SignedAt: workflow.Now(actx), IdempotencyKey: req.IdempotencyKey, Statement: req.Statement,
		Proof: req.Proof, Via: req.Via,
	}
	c.st.Signatures = append(c.st.Signatures, sig)
	c.seen[req.IdempotencyKey] = nil
	res := c.tally()
	err := workflow.ExecuteActivity(actx, a.RecordSignature, activities.Signed{
		CeremonyID: c.st.CeremonyID, Epoch: c.epoch, Signature: sig,
		Approvals: res.Approvals, Rejections: res.Rejections, Pending: c.st.Pending,
	}).Get(actx, nil)
	if err != nil {
		// Retries are unlimited, so this only happens when the workflow is being
		// cancelled; the signature stays in the state and history.
		workflow.GetLogger(actx).Error("record signature failed", "witness", sig.WitnessID, "error", err)
	}
	c.evaluate(actx)
	return nil
}

// check validates a sign request against the current state; it never mutates.
func (c *ceremony) check(req contract.SignRequest) error {
	switch {
	case !c.st.Status.Open():
		return rejection("closed", fmt.Sprintf("the ceremony is %s and no longer accepts signatures", c.st.Status))
	case req.WitnessID == c.st.Spec.Initiator:
		return rejection("not_a_witness", "the initiator cannot sign their own ceremony")
	case c.rolesOf(req.WitnessID) == nil:
		return rejection("unknown_witness", fmt.Sprintf("%s is not a witness of this ceremony", req.WitnessID))
	}
	for _, s := range c.st.Signatures {
		if s.WitnessID == req.WitnessID {
			return rejection("already_signed", fmt.Sprintf("%s already signed (%s) at %s; signatures cannot be changed",
				req.WitnessID, s.Decision, s.SignedAt.UTC().Format(time.RFC3339)))
		}
	}
	return nil
}

// tally recomputes counts and pending witnesses from the signatures.
func (c *ceremony) tally() quorum.Result {
	votes := make([]quorum.Vote, 0, len(c.st.Signatures))
	signed := map[string]bool{}
	for _, s := range c.st.Signatures {
		votes = append(votes, quorum.Vote{WitnessID: s.WitnessID, Approve: s.Decision == contract.Approve})
		signed[s.WitnessID] = true
	}
	pending := []string{}
	for _, m := range c.members {
		if !signed[m.ID] {
			pending = append(pending, m.ID)
		}
	}
	sort.Strings(pending)
	res := quorum.Evaluate(policyOf(c.st.Spec.Quorum), c.members, votes)
	c.st.Pending, c.st.Approvals, c.st.Rejections = pending, res.Approvals, res.Rejections
	return res
}

// evaluate applies the quorum policy and moves the status when it decides.
func (c *ceremony) evaluate(actx workflow.Context) {
	res := c.tally()
	c.upsertSearchAttributes(actx)
	if c.st.Status != contract.StatusCollecting {
		return
	}
	switch res.Verdict {
	case quorum.Met:
		c.setStatus(actx, contract.StatusQuorumReached, fmt.Sprintf("%d approvals", res.Approvals), "")
	case quorum.Vetoed, quorum.Impossible:
		c.setStatus(actx, contract.StatusRejected, res.Reason, "")
	}
}

func (c *ceremony) cancel(actx workflow.Context, raw json.RawMessage) {
	var msg contract.Cancel
	if err := decodeStrict(raw, &msg); err != nil || msg.By == "" {
		if err == nil {
			err = errors.New("cancel needs \"by\"")
		}
		c.reject(actx, contract.SignalCancel, contract.SignRequest{IdempotencyKey: msg.IdempotencyKey}, err)
		return
	}
	if c.st.Status.Final() {
		return
	}
	reason := msg.Reason
	if reason == "" {
		reason = "cancelled"
	}
	c.setStatus(actx, contract.StatusCancelled, reason, msg.By)
}

// substrateDecision applies the substrate's verdict on a ceremony that reached
// quorum: Sealed seals it, Aborted rejects it. Other phases are informational.
func (c *ceremony) substrateDecision(actx workflow.Context, raw json.RawMessage) {
	var msg contract.SubstrateDecision
	if err := decodeStrict(raw, &msg); err != nil {
		c.reject(actx, contract.SignalSubstrateDecision, contract.SignRequest{IdempotencyKey: msg.IdempotencyKey}, err)
		return
	}
	if c.st.Status != contract.StatusQuorumReached {
		return
	}
	reason := msg.Reason
	switch msg.Phase {
	case "Sealed":
		if reason == "" {
			reason = "sealed by the substrate"
		}
		c.setStatus(actx, contract.StatusSealed, reason, "substrate")
	case "Aborted":
		if reason == "" {
			reason = "aborted by the substrate"
		}
		c.setStatus(actx, contract.StatusRejected, reason, "substrate")
	}
}

// setStatus changes the status, records it and updates the search attributes.
func (c *ceremony) setStatus(actx workflow.Context, s contract.Status, reason, actor string) {
	now := workflow.Now(actx)
	c.st.Status, c.st.Reason = s, reason
	if s.Final() {
		c.st.ClosedAt = &now
	}
	c.statusNo++
	c.upsertSearchAttributes(actx)
	err := workflow.ExecuteActivity(actx, a.RecordStatus, activities.StatusChanged{
		CeremonyID: c.st.CeremonyID, Status: s, Reason: reason, At: now, Actor: actor, Seq: c.statusNo,
	}).Get(actx, nil)
	if err != nil {
		workflow.GetLogger(actx).Error("record status failed", "status", s, "error", err)
	}
}

// reject records a refused message in the state and on the custody chain.
func (c *ceremony) reject(actx workflow.Context, name string, req contract.SignRequest, err error) {
	msg := contract.RejectedMessage{Name: name, IdempotencyKey: req.IdempotencyKey, WitnessID: req.WitnessID,
		Reason: err.Error(), At: workflow.Now(actx)}
	c.st.Rejected = append(c.st.Rejected, msg)
	if req.IdempotencyKey != "" {
		if _, dup := c.seen[req.IdempotencyKey]; !dup {
			c.seen[req.IdempotencyKey] = err
		}
	}
	c.rejectNo++
	if e := workflow.ExecuteActivity(actx, a.RecordRejected, activities.Rejected{
		CeremonyID: c.st.CeremonyID, Message: msg, Seq: c.rejectNo}).Get(actx, nil); e != nil {
		workflow.GetLogger(actx).Error("record rejected message failed", "error", e)
	}
}

func (c *ceremony) setSpec(spec contract.Spec) {
	ids := make([]string, len(spec.Witnesses))
	roles := make([]string, len(spec.Witnesses))
	for i, w := range spec.Witnesses {
		ids[i], roles[i] = w.ID, w.Role
	}
	c.st.Spec = spec
	c.members = quorum.Members(spec.Initiator, ids, roles)
	c.tally()
}

// rolesOf returns the witness's roles (empty, non-nil, when they have none), or
// nil when they are not a witness.
func (c *ceremony) rolesOf(id string) []string {
	for _, m := range c.members {
		if m.ID == id {
			if m.Roles == nil {
				return []string{}
			}
			return m.Roles
		}
	}
	return nil
}

func (c *ceremony) upsertSearchAttributes(ctx workflow.Context) {
	err := workflow.UpsertTypedSearchAttributes(ctx,
		temporal.NewSearchAttributeKeyKeyword(contract.SACeremonyStatus).ValueSet(string(c.st.Status)),
		temporal.NewSearchAttributeKeyKeywordList(contract.SAPendingWitnesses).ValueSet(c.st.Pending),
	)
	if err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes failed", "error", err)
	}
}

func policyOf(q contract.Quorum) quorum.Policy {
	return quorum.Policy{Threshold: q.Threshold, Roles: q.Roles, Veto: q.Veto}
}

func rejection(code, reason string) error {
	return temporal.NewNonRetryableApplicationError(reason, code, nil, reason)
}
