// Package workflows holds the Ceremony workflow: one durable workflow per ceremony,
// collecting witness signatures until the quorum policy decides.
//
// Determinism rules for this package: no time.Now (use workflow.Now), no rand, no
// I/O (activities do it), never range over a map to produce output or commands,
// and behaviour changes go behind workflow.GetVersion (see ARCHITECTURE.md,
// "Changing the workflow"). Histories of every lifecycle path are replayed from
// testdata/ in `make test`; a change that breaks them is a change that would break
// running ceremonies.
package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/quorum"
	"github.com/guildhouse/guildhall/rules"
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

// notifyOptions give a notification a bounded number of tries; after the last
// one the failure itself is recorded on the custody chain.
var notifyOptions = workflow.ActivityOptions{
	StartToCloseTimeout: time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
		MaximumAttempts:    NotifyAttempts,
	},
}

// MaxRejectedKept is how many refused messages the state lists (the latest);
// MaxRejectedAnswers how many refusals are remembered by idempotency key.
const (
	MaxRejectedKept    = 200
	MaxRejectedAnswers = 2000
)

// NotifyAttempts is how often a notification is tried before it is recorded as failed.
const NotifyAttempts = 5

// DefaultDecisionTimeout is how long a ceremony that reached quorum waits for the
// substrate's decision before it flags itself for operators.
const DefaultDecisionTimeout = 24 * time.Hour

// ReminderLadder is when reminders go out, in percent of the window from opening
// to the deadline.
var ReminderLadder = []int64{50, 80, 95}

// a is only used for method references; its fields are never touched here.
var a *activities.Activities

// Tuning adjusts timings; zero values take the defaults. Production never sets
// it; tests do, through Continued.
type Tuning struct {
	// DecisionTimeout overrides DefaultDecisionTimeout.
	DecisionTimeout time.Duration `json:"decisionTimeout,omitempty"`
	// ContinueAsNewAfter makes a run continue as new after this many processed
	// messages, as if the server had suggested it (tests only; 0 = off).
	ContinueAsNewAfter int `json:"continueAsNewAfter,omitempty"`
}

// Answer is the recorded answer to a message, by idempotency key: a duplicate
// gets the same answer and changes nothing.
type Answer struct {
	Code   string `json:"code,omitempty"` // "" = accepted
	Reason string `json:"reason,omitempty"`
}

func (x Answer) err() error {
	if x.Code == "" {
		return nil
	}
	return rejection(x.Code, x.Reason)
}

// Message is a signal received but not yet processed, carried across
// continue-as-new.
type Message struct {
	Name    string `json:"name"`
	Payload []byte `json:"payload,omitempty"` // JSON, when Problem is empty
	Problem string `json:"problem,omitempty"` // why the payload is not JSON
	raw     *converter.RawValue
}

// Seqs number repeated records so each gets its own custody idempotency key.
type Seqs struct {
	Status    int `json:"status"`
	Reject    int `json:"reject"`
	Notify    int `json:"notify"`
	Attention int `json:"attention"`
}

// Continued is the workflow's optional second argument: the state a run hands
// to the next one when it continues as new, and test tuning. A ceremony opened
// normally has none (nil).
type Continued struct {
	State        contract.State    `json:"state"`
	Answers      map[string]Answer `json:"answers,omitempty"`
	Inbox        []Message         `json:"inbox,omitempty"`
	Seqs         Seqs              `json:"seqs"`
	ReminderStep int               `json:"reminderStep"`
	DecisionDue  *time.Time        `json:"decisionDue,omitempty"`
	Keys         WitnessKeys       `json:"keys,omitempty"`
	KeysOn       bool              `json:"keysOn,omitempty"`
	RejectedKeys []string          `json:"rejectedKeys,omitempty"`
	Tuning       Tuning            `json:"tuning,omitempty"`
	// Refused is the live view's newest refused generation, so the attestation
	// keeps saying so in the next run.
	Refused *contract.Refusal `json:"refused,omitempty"`
}

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
	st      contract.State
	members []quorum.Member
	answers map[string]Answer // idempotency key → answer; only looked up, never ranged over
	seqs    Seqs
	keys    WitnessKeys
	keysOn  bool // statements are verified (see keysChange)
	localOn bool // signing-path Ops DB calls are local activities (see localChange)
	rulesOn bool // specs are checked with the rules package (see rulesChange)
	// templateNameOn: a spec's template name is checked with
	// rules.TemplateNameOK (see templateNameChange)
	templateNameOn bool
	// assuranceOn: signers are checked against the directory and their
	// assurance recorded (see assuranceChange)
	assuranceOn bool
	// intuneOn: Intune targets are honoured (see intuneChange)
	intuneOn bool
	// cancelAssuranceOn: a cancel's assurance is recorded (see cancelAssuranceChange)
	cancelAssuranceOn bool
	// rejectedKeys are the keys of refused messages in answers, oldest first.
	rejectedKeys []string
	tuning       Tuning

	inbox      workflow.Channel
	processed  int // messages handled in this run
	background int // notification and attestation coroutines still running

	reminderStep int        // next step of ReminderLadder for the current deadline
	decisionDue  *time.Time // when to flag a quorum the substrate has not decided

	timer       workflow.Future
	timerFor    time.Time
	stopTimer   workflow.CancelFunc
	lastSA      string // what the search attributes were last set to
	attentionSA bool   // CeremonyAttention has been set in this or an earlier run
	lastTitle   string
	badSpec     bool // the start spec is invalid: only CeremonyStatus is set

	live liveView // the CeremonyAttestation kept current (see liveChange)
}

// signal channels, in the order a continued run processes carried messages.
var signalNames = []string{contract.SignalWitnessSignature, contract.SignalSpecChanged, contract.SignalSubstrateDecision,
	contract.SignalCancel, contract.SignalDirectoryChanged}

// Ceremony is the workflow. It returns the final state. carried is nil unless the
// run continues an earlier one (or a test tunes it).
func Ceremony(ctx workflow.Context, spec contract.Spec, carried *Continued) (contract.State, error) {
	c := &ceremony{answers: map[string]Answer{}}
	c.inbox = workflow.NewBufferedChannel(ctx, 1024)
	actx := workflow.WithActivityOptions(ctx, activityOptions)
	if carried != nil {
		c.tuning = carried.Tuning
	}
	c.startLive(ctx, spec)
	if carried != nil && carried.State.CeremonyID != "" {
		c.resume(carried)
		if err := c.registerHandlers(ctx); err != nil {
			return c.st, err
		}
		c.upsertSearchAttributes(ctx)
		c.upsertMemo(ctx)
		c.showLive(ctx)
		for _, m := range carried.Inbox {
			c.onSignal(actx, m)
		}
	} else {
		if err := c.open(ctx, actx, spec); err != nil {
			return c.st, err
		}
	}
	if next := c.run(ctx, actx); next != nil {
		return c.st, workflow.NewContinueAsNewError(ctx, contract.WorkflowType, c.st.Spec, next)
	}
	if ctx.Err() != nil {
		ctx, _ = workflow.NewDisconnectedContext(ctx)
		actx = workflow.WithActivityOptions(ctx, activityOptions)
	}
	c.finish(ctx, actx)
	return c.st, nil
}

func (c *ceremony) open(ctx, actx workflow.Context, spec contract.Spec) error {
	if spec.ID == "" {
		// Keep the record findable even when the start argument is broken.
		spec.ID, _ = contract.CeremonyIDFromWorkflowID(workflow.GetInfo(ctx).WorkflowExecution.ID)
	}
	spec = c.intuneSpec(ctx, spec)
	now := workflow.Now(ctx)
	c.st = contract.State{CeremonyID: spec.ID, Status: contract.StatusCollecting, OpenedAt: now,
		Signatures: []contract.Signature{}, Generation: spec.Generation, Runs: 1}
	c.setSpec(spec)
	problem := c.specProblem(ctx, spec)
	if problem == "" && rules.FromTemplate(spec) && c.assuranceEnabled(ctx) {
		if spec, problem = c.resolveTemplate(ctx, actx, spec); problem == "" {
			c.setSpec(spec)
		}
	}
	c.badSpec = problem != ""
	if err := c.registerHandlers(ctx); err != nil {
		return err
	}
	c.upsertSearchAttributes(ctx)
	c.upsertMemo(ctx)
	if err := workflow.ExecuteActivity(actx, a.RecordOpened, activities.Opened{
		Spec: spec, OpenedAt: c.st.OpenedAt, Pending: c.st.Pending}).Get(ctx, nil); err != nil {
		return fmt.Errorf("record opened ceremony: %w", err)
	}
	if problem != "" {
		c.setStatus(actx, contract.StatusRejected, "invalid spec: "+problem, spec.Initiator)
		return nil
	}
	if c.keysEnabled(ctx) {
		c.loadKeys(actx, c.keyOwners(ctx))
	}
	c.skipPastReminders(now)
	c.notifyOpened(actx)
	c.evaluate(actx)
	c.showLive(actx, c.openedEvent())
	return nil
}

func (c *ceremony) resume(k *Continued) {
	c.st = k.State
	c.st.Runs++
	for key, ans := range k.Answers { // copying a map into a map: order does not matter
		c.answers[key] = ans
	}
	c.seqs, c.keys, c.keysOn, c.reminderStep, c.decisionDue = k.Seqs, k.Keys, k.KeysOn, k.ReminderStep, k.DecisionDue
	c.rejectedKeys, c.live.refused = k.RejectedKeys, k.Refused
	c.attentionSA = c.st.Attention != ""
	c.setSpec(c.st.Spec)
}

// run is the main loop: it processes messages and timers until the ceremony is
// final, or returns what to carry when it is time to continue as new.
func (c *ceremony) run(ctx, actx workflow.Context) *Continued {
	chans := make([]workflow.ReceiveChannel, len(signalNames))
	for i, name := range signalNames {
		chans[i] = workflow.GetSignalChannel(ctx, name)
	}
	for !c.st.Status.Final() {
		if c.continueAsNewDue(ctx) {
			if next := c.prepareContinue(ctx, actx, chans); next != nil {
				return next
			}
			continue
		}
		c.armTimer(ctx)
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(c.inbox, func(ch workflow.ReceiveChannel, _ bool) {
			var item inboxItem
			ch.ReceiveAsync(&item)
			c.processUpdate(actx, item)
		})
		for i, name := range signalNames {
			sel.AddReceive(chans[i], func(ch workflow.ReceiveChannel, _ bool) {
				var rv converter.RawValue
				if ch.ReceiveAsync(&rv) {
					c.onSignal(actx, Message{Name: name, raw: &rv})
				}
			})
		}
		// `temporal workflow cancel` (a Temporal cancellation request) cancels the
		// ceremony like the cancel signal, recorded with a disconnected context.
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {
			dctx, _ := workflow.NewDisconnectedContext(ctx)
			c.setStatus(workflow.WithActivityOptions(dctx, activityOptions), contract.StatusCancelled,
				"cancelled through Temporal (workflow cancel request)", "operator")
		})
		if c.timer != nil {
			sel.AddFuture(c.timer, func(workflow.Future) {
				c.timer, c.timerFor = nil, time.Time{}
				c.onWake(actx)
			})
		}
		sel.Select(ctx)
		c.processed++
	}
	return nil
}

// finish runs once the ceremony is final: it answers updates that were accepted
// while it was open, records signals that were already delivered (as refused:
// the ceremony is closed), and waits for notifications, so the workflow
// completes only when every handler and notification has finished.
func (c *ceremony) finish(ctx, actx workflow.Context) {
	if c.stopTimer != nil {
		c.stopTimer()
	}
	chans := make([]workflow.ReceiveChannel, len(signalNames))
	for i, name := range signalNames {
		chans[i] = workflow.GetSignalChannel(ctx, name)
	}
	for {
		_ = workflow.Await(ctx, func() bool {
			return c.inbox.Len() > 0 || (workflow.AllHandlersFinished(ctx) && c.background == 0)
		})
		var item inboxItem
		if c.inbox.ReceiveAsync(&item) {
			c.processUpdate(actx, item)
			continue
		}
		drained := false
		for i, name := range signalNames {
			var rv converter.RawValue
			for chans[i].ReceiveAsync(&rv) {
				c.onSignal(actx, Message{Name: name, raw: &rv})
				drained = true
			}
		}
		if !drained {
			return
		}
	}
}

// processUpdate handles a sign update the validator admitted.
func (c *ceremony) processUpdate(actx workflow.Context, item inboxItem) {
	if ans, dup := c.answers[item.req.IdempotencyKey]; dup {
		item.done.err = ans.err()
	} else {
		item.done.err = c.sign(actx, item.req, contract.UpdateSign)
	}
	item.done.finished = true
}

// onSignal dispatches one signal. Nothing in here may fail the workflow task:
// bad payloads are recorded as rejected messages.
func (c *ceremony) onSignal(actx workflow.Context, m Message) {
	if m.raw != nil {
		m.Payload, m.Problem = payloadJSON(*m.raw)
	}
	var perr error
	if m.Problem != "" {
		perr = rejection("invalid", m.Problem)
	}
	switch m.Name {
	case contract.SignalWitnessSignature:
		c.onWitnessSignature(actx, m.Payload, perr)
	case contract.SignalCancel:
		c.onCancel(actx, m.Payload, perr)
	case contract.SignalSubstrateDecision:
		c.onSubstrateDecision(actx, m.Payload, perr)
	case contract.SignalSpecChanged:
		c.onSpecChanged(actx, m.Payload, perr)
	case contract.SignalDirectoryChanged:
		c.onDirectoryChanged(actx, m.Payload, perr)
	}
}

func (c *ceremony) onWitnessSignature(actx workflow.Context, raw []byte, perr error) {
	req, err := decodeSign(raw)
	if perr != nil {
		err = perr
	}
	if err != nil {
		if _, dup := c.answers[req.IdempotencyKey]; dup && req.IdempotencyKey != "" {
			return
		}
		c.reject(actx, contract.SignalWitnessSignature, req.IdempotencyKey, req.WitnessID, err)
		return
	}
	if _, dup := c.answers[req.IdempotencyKey]; dup {
		return
	}
	_ = c.sign(actx, req, contract.SignalWitnessSignature)
}

// sign processes one sign request from either channel. The returned error is the
// rejection the caller sees.
func (c *ceremony) sign(actx workflow.Context, req contract.SignRequest, via string) error {
	var level contract.Assurance
	var method string
	var held []string
	err := c.checkState(req)
	switch {
	case err != nil || !c.keysEnabled(actx):
	case c.assuranceEnabled(actx):
		level, method, held, err = c.admit(actx, req)
	default:
		// The keys registered now decide, not those cached at opening: a key
		// added since counts, a key removed since does not.
		c.loadKeys(actx, []string{req.WitnessID})
		err = c.verifyProof(workflow.Now(actx), req, false)
	}
	if err != nil {
		c.reject(actx, via, req.IdempotencyKey, req.WitnessID, err)
		return err
	}
	sig := contract.Signature{
		WitnessID: req.WitnessID, Roles: c.rolesOf(req.WitnessID), Decision: req.Decision, Comment: req.Comment,
		SignedAt: workflow.Now(actx), IdempotencyKey: req.IdempotencyKey, Statement: req.Statement,
		Proof: req.Proof, Via: req.Via, Epoch: c.st.Epoch,
		Assurance: level, AssuranceMethod: method, HeldRoles: held,
	}
	if level == contract.AssuranceSession || level == contract.AssuranceToken {
		sig.Vouch = req.Vouch
	}
	c.st.Signatures = append(c.st.Signatures, sig)
	c.answers[req.IdempotencyKey] = Answer{}
	res := c.tally()
	err = c.execDB(actx, a.RecordSignature, activities.Signed{
		CeremonyID: c.st.CeremonyID, Epoch: sig.Epoch, Signature: sig,
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

// check validates a sign request against the current state and the cached
// keys; it never mutates and does no I/O, so the update validator can call it.
func (c *ceremony) check(now time.Time, req contract.SignRequest) error {
	if err := c.checkState(req); err != nil {
		return err
	}
	if err := c.verifyProof(now, req, true); err != nil {
		return err
	}
	return c.checkAssurance(req)
}

// checkState is check without the statement and proof.
func (c *ceremony) checkState(req contract.SignRequest) error {
	if r := rules.MaySign(c.st, req.WitnessID); r != nil {
		return rejection(r.Code, r.Reason)
	}
	return nil
}

// tally recomputes counts and pending witnesses from the signatures (the
// current epoch's), and keeps the deactivated list to those still pending.
func (c *ceremony) tally() quorum.Result {
	res := rules.Tally(c.st.Spec, c.st.Signatures)
	c.st.Pending, c.st.Approvals, c.st.Rejections = rules.Pending(c.st.Spec, c.st.Signatures), res.Approvals, res.Rejections
	c.st.Deactivated = slices.DeleteFunc(c.st.Deactivated, func(id string) bool { return !slices.Contains(c.st.Pending, id) })
	if len(c.st.Deactivated) == 0 && c.st.Attention == contract.AttentionWitnessDeactivated {
		c.st.Attention = ""
	}
	return res
}

// evaluate applies the quorum policy and moves the status when it decides.
func (c *ceremony) evaluate(actx workflow.Context) {
	res := c.tally()
	c.upsertSearchAttributes(actx)
	defer c.showLive(actx)
	if c.st.Status != contract.StatusCollecting {
		return
	}
	switch res.Verdict {
	case quorum.Met:
		now := workflow.Now(actx)
		due := now.Add(c.decisionTimeout())
		c.st.QuorumReachedAt, c.decisionDue = &now, &due
		c.setStatus(actx, contract.StatusQuorumReached, fmt.Sprintf("%d approvals", res.Approvals), "")
	case quorum.Vetoed, quorum.Impossible:
		c.setStatus(actx, contract.StatusRejected, res.Reason, "")
	}
}

func (c *ceremony) decisionTimeout() time.Duration {
	if c.tuning.DecisionTimeout > 0 {
		return c.tuning.DecisionTimeout
	}
	return DefaultDecisionTimeout
}

func (c *ceremony) onCancel(actx workflow.Context, raw []byte, perr error) {
	var msg contract.Cancel
	err := decodeMessage(raw, perr, &msg, func() string { return msg.IdempotencyKey })
	if err == nil && strings.TrimSpace(msg.By) == "" {
		err = rejection("invalid", `cancel needs "by": who cancels (initiator, operator, cluster)`)
	}
	if c.duplicate(msg.IdempotencyKey) {
		return
	}
	if err != nil {
		c.reject(actx, contract.SignalCancel, msg.IdempotencyKey, "", err)
		return
	}
	if c.st.Status.Final() {
		c.answers[msg.IdempotencyKey] = Answer{Code: "closed", Reason: "already " + string(c.st.Status)}
		return
	}
	c.answers[msg.IdempotencyKey] = Answer{}
	reason := msg.RecordedReason()
	var how activities.StatusChanged
	if changed(actx, cancelAssuranceChange, &c.cancelAssuranceOn) {
		how = c.cancelAssurance(actx, msg)
		c.st.CloseAssurance, c.st.CloseAssuranceMethod = how.Assurance, how.AssuranceMethod
	}
	how.Status, how.Reason, how.Actor = contract.StatusCancelled, reason, msg.By
	c.changeStatus(actx, how)
}

// onSubstrateDecision applies the substrate's verdict on a ceremony that reached
// quorum: Sealed seals it, Aborted rejects it, Expired expires it. Other phases,
// and decisions about an older generation, are informational.
func (c *ceremony) onSubstrateDecision(actx workflow.Context, raw []byte, perr error) {
	var msg contract.SubstrateDecision
	err := decodeMessage(raw, perr, &msg, func() string { return msg.IdempotencyKey })
	if c.duplicate(msg.IdempotencyKey) {
		return
	}
	if err != nil {
		c.reject(actx, contract.SignalSubstrateDecision, msg.IdempotencyKey, "", err)
		return
	}
	c.answers[msg.IdempotencyKey] = Answer{}
	if c.st.Status != contract.StatusQuorumReached || (msg.Generation != 0 && msg.Generation < c.st.Generation) {
		return
	}
	reason := msg.Reason
	switch msg.Phase {
	case "Sealed":
		c.setStatus(actx, contract.StatusSealed, orDefault(reason, "sealed by the substrate"), "substrate")
	case "Aborted":
		c.setStatus(actx, contract.StatusRejected, orDefault(reason, "aborted by the substrate"), "substrate")
	case "Expired":
		c.setStatus(actx, contract.StatusExpired, orDefault(reason, "expired by the substrate"), "substrate")
	}
}

// setStatus changes the status, records it, updates the search attributes and
// tells people when it matters.
func (c *ceremony) setStatus(actx workflow.Context, s contract.Status, reason, actor string) {
	c.changeStatus(actx, activities.StatusChanged{Status: s, Reason: reason, Actor: actor})
}

// changeStatus is setStatus with what RecordStatus records besides the
// status, reason and actor (a cancel's assurance).
func (c *ceremony) changeStatus(actx workflow.Context, in activities.StatusChanged) {
	s, reason, actor := in.Status, in.Reason, in.Actor
	now := workflow.Now(actx)
	c.st.Status, c.st.Reason = s, reason
	if s.Final() {
		c.st.ClosedAt = &now
		c.st.Attention = ""
	}
	if s != contract.StatusQuorumReached {
		c.decisionDue = nil
		c.st.Attention = ""
	}
	if s != contract.StatusCollecting && c.st.Attention == contract.AttentionWitnessDeactivated {
		// Who has not signed no longer matters, and the substrate timeout must
		// be free to flag.
		c.st.Attention = ""
	}
	c.seqs.Status++
	c.upsertSearchAttributes(actx)
	in.CeremonyID, in.At, in.Seq = c.st.CeremonyID, now, c.seqs.Status
	err := c.execDB(actx, a.RecordStatus, in).Get(actx, nil)
	if err != nil {
		workflow.GetLogger(actx).Error("record status failed", "status", s, "error", err)
	}
	if s.Final() || s == contract.StatusQuorumReached {
		c.notifyOutcome(actx)
		c.attest(actx)
	}
	if s == contract.StatusSealed {
		c.deployIntune(actx, actor)
	}
}

// reject records a refused message in the state and on the custody chain, and
// remembers the answer under its key.
func (c *ceremony) reject(actx workflow.Context, name, key, witness string, err error) {
	msg := contract.RejectedMessage{Name: name, IdempotencyKey: clip(key), WitnessID: clip(witness),
		Reason: err.Error(), At: workflow.Now(actx)}
	if len(msg.Reason) > maxReason {
		msg.Reason = msg.Reason[:maxReason]
	}
	c.st.Rejected = append(c.st.Rejected, msg)
	c.st.RejectedCount++
	if len(c.st.Rejected) > MaxRejectedKept {
		// The state keeps the latest; the custody chain keeps them all.
		c.st.Rejected = slices.Delete(c.st.Rejected, 0, len(c.st.Rejected)-MaxRejectedKept)
	}
	if key != "" && len(key) <= rules.MaxIdempotencyKey {
		if _, dup := c.answers[key]; !dup {
			c.answers[key] = answerOf(err)
			c.rejectedKeys = append(c.rejectedKeys, key)
			if len(c.rejectedKeys) > MaxRejectedAnswers {
				// Forget the oldest refusals (never an acceptance): their repeats
				// would be refused again anyway, only possibly in other words.
				delete(c.answers, c.rejectedKeys[0])
				c.rejectedKeys = slices.Delete(c.rejectedKeys, 0, 1)
			}
		}
	}
	c.seqs.Reject++
	if e := workflow.ExecuteActivity(actx, a.RecordRejected, activities.Rejected{
		CeremonyID: c.st.CeremonyID, Message: msg, Seq: c.seqs.Reject}).Get(actx, nil); e != nil {
		workflow.GetLogger(actx).Error("record rejected message failed", "error", e)
	}
}

func (c *ceremony) duplicate(key string) bool {
	if key == "" {
		return false
	}
	_, dup := c.answers[key]
	return dup
}

func (c *ceremony) setSpec(spec contract.Spec) {
	c.st.Spec = spec
	c.members = rules.Members(spec)
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

func (c *ceremony) memberIDs() []string {
	out := make([]string, len(c.members))
	for i, m := range c.members {
		out[i] = m.ID
	}
	return out
}

// upsertSearchAttributes keeps the Temporal UI's view current, writing only
// when something changed.
func (c *ceremony) upsertSearchAttributes(ctx workflow.Context) {
	spec := c.st.Spec
	snapshot := strings.Join([]string{string(c.st.Status), spec.Kind, spec.Artifact.Digest,
		strings.Join(c.st.Pending, ","), spec.Deadline.UTC().Format(time.RFC3339Nano), c.st.Attention}, "\x00")
	if snapshot == c.lastSA {
		return
	}
	c.lastSA = snapshot
	if c.badSpec {
		// An invalid spec may hold anything (huge or empty values the server would
		// refuse); the status alone is safe and tells operators what happened.
		if err := workflow.UpsertTypedSearchAttributes(ctx,
			temporal.NewSearchAttributeKeyKeyword(contract.SACeremonyStatus).ValueSet(string(c.st.Status))); err != nil {
			workflow.GetLogger(ctx).Warn("upsert search attributes failed", "error", err)
		}
		return
	}
	updates := []temporal.SearchAttributeUpdate{
		temporal.NewSearchAttributeKeyKeyword(contract.SACeremonyStatus).ValueSet(string(c.st.Status)),
		temporal.NewSearchAttributeKeyKeyword(contract.SACeremonyKind).ValueSet(spec.Kind),
		temporal.NewSearchAttributeKeyKeyword(contract.SAArtifactDigest).ValueSet(spec.Artifact.Digest),
		temporal.NewSearchAttributeKeyKeywordList(contract.SAPendingWitnesses).ValueSet(c.st.Pending),
	}
	if !spec.Deadline.IsZero() {
		updates = append(updates, temporal.NewSearchAttributeKeyTime(contract.SACeremonyDeadline).ValueSet(spec.Deadline))
	}
	// CeremonyAttention is only touched once it is needed, so a namespace that
	// has not registered it yet keeps working until a ceremony needs an operator.
	if c.st.Attention != "" {
		updates = append(updates, temporal.NewSearchAttributeKeyKeyword(contract.SACeremonyAttention).ValueSet(c.st.Attention))
		c.attentionSA = true
	} else if c.attentionSA {
		updates = append(updates, temporal.NewSearchAttributeKeyKeyword(contract.SACeremonyAttention).ValueUnset())
		c.attentionSA = false
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes failed", "error", err)
	}
}

func (c *ceremony) upsertMemo(ctx workflow.Context) {
	if c.badSpec {
		return
	}
	t := rules.Title(c.st.Spec)
	if t == c.lastTitle {
		return
	}
	c.lastTitle = t
	if err := workflow.UpsertMemo(ctx, map[string]any{contract.MemoTitle: t}); err != nil {
		workflow.GetLogger(ctx).Warn("upsert memo failed", "error", err)
	}
}

func rejection(code, reason string) error {
	return temporal.NewNonRetryableApplicationError(reason, code, nil, reason)
}

func answerOf(err error) Answer {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return Answer{Code: app.Type(), Reason: app.Message()}
	}
	return Answer{Code: "invalid", Reason: err.Error()}
}

func requireKey(key string) error {
	if strings.TrimSpace(key) == "" {
		return rejection("invalid", "idempotencyKey is required")
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
