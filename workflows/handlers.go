package workflows

import (
	"encoding/json"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/contract"
)

func (c *ceremony) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, contract.QueryStatus, func() (contract.State, error) {
		return c.st, nil
	}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateSign,
		func(ctx workflow.Context, raw json.RawMessage) (contract.State, error) {
			req, _ := decodeSign(raw) // the validator already accepted it
			if ans, dup := c.answers[req.IdempotencyKey]; dup {
				return c.st, ans.err()
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
			if ans, dup := c.answers[req.IdempotencyKey]; dup {
				return ans.err() // same answer as the first time; nil lets the handler repeat it
			}
			return c.check(workflow.Now(ctx), req)
		}},
	)
}

// payloadJSON returns the JSON of a signal payload, or why it is not JSON. The
// signal channels receive raw payloads so that even a payload the default data
// converter cannot decode is recorded as a rejected message instead of being
// dropped silently.
func payloadJSON(rv converter.RawValue) ([]byte, string) {
	p := rv.Payload()
	if p == nil {
		return nil, ""
	}
	switch enc := string(p.GetMetadata()[converter.MetadataEncoding]); enc {
	case converter.MetadataEncodingJSON:
		return p.GetData(), ""
	case converter.MetadataEncodingNil, "":
		return nil, ""
	default:
		return nil, "payload encoding " + enc + " is not JSON (send --input '{…}')"
	}
}

// continueAsNewDue reports whether this run should hand over to a new one.
func (c *ceremony) continueAsNewDue(ctx workflow.Context) bool {
	if c.st.Status.Final() {
		return false
	}
	if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
		return true
	}
	return c.tuning.ContinueAsNewAfter > 0 && c.processed >= c.tuning.ContinueAsNewAfter
}

// prepareContinue finishes what cannot be carried (updates have callers waiting
// on this run; notifications are activities of this run), then takes every
// signal already delivered, unprocessed, into the state for the next run.
func (c *ceremony) prepareContinue(ctx, actx workflow.Context, chans []workflow.ReceiveChannel) *Continued {
	if c.stopTimer != nil {
		c.stopTimer()
		c.timer, c.timerFor = nil, timeZero
	}
	for {
		_ = workflow.Await(ctx, func() bool {
			return c.inbox.Len() > 0 || (workflow.AllHandlersFinished(ctx) && c.background == 0)
		})
		var item inboxItem
		if !c.inbox.ReceiveAsync(&item) {
			break
		}
		c.processUpdate(actx, item)
	}
	if c.st.Status.Final() {
		return nil // an update just closed it: finish instead
	}
	next := &Continued{
		State: c.st, Answers: c.answers, Seqs: c.seqs, ReminderStep: c.reminderStep,
		DecisionDue: c.decisionDue, Keys: c.keys, KeysOn: c.keysOn, RejectedKeys: c.rejectedKeys, Tuning: c.tuning,
		Refused: c.live.refused,
	}
	for i, name := range signalNames {
		var rv converter.RawValue
		for chans[i].ReceiveAsync(&rv) {
			data, problem := payloadJSON(rv)
			next.Inbox = append(next.Inbox, Message{Name: name, Payload: data, Problem: problem})
		}
	}
	workflow.GetLogger(ctx).Info("continuing as new", "run", c.st.Runs, "carriedSignals", len(next.Inbox),
		"keys", len(c.answers))
	return next
}
