package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/contract"
)

var timeZero time.Time

// The workflow keeps one timer at a time, for the next thing that is due: the
// next reminder or the deadline while collecting, the substrate's decision
// timeout after quorum. When an amendment moves the deadline the timer is
// cancelled and set again, so extensions move reminders and expiry alike.

// reminderDue is when reminder step i is due for the current deadline.
func (c *ceremony) reminderDue(i int) time.Time {
	window := c.st.Spec.Deadline.Sub(c.st.OpenedAt)
	return c.st.OpenedAt.Add(window / 100 * time.Duration(ReminderLadder[i]))
}

// skipPastReminders moves past ladder steps that are already due at now (a
// ceremony opened close to its deadline, or a deadline moved earlier), so they
// do not all fire at once.
func (c *ceremony) skipPastReminders(now time.Time) {
	for c.reminderStep < len(ReminderLadder) && !c.reminderDue(c.reminderStep).After(now) {
		c.reminderStep++
	}
}

// nextWake returns when the workflow must wake up next and why, or zero.
func (c *ceremony) nextWake() (time.Time, string) {
	switch c.st.Status {
	case contract.StatusCollecting:
		if c.st.Spec.Deadline.IsZero() {
			return timeZero, ""
		}
		if c.reminderStep < len(ReminderLadder) {
			if due := c.reminderDue(c.reminderStep); due.Before(c.st.Spec.Deadline) {
				return due, fmt.Sprintf("reminder at %d%%", ReminderLadder[c.reminderStep])
			}
		}
		return c.st.Spec.Deadline, "deadline"
	case contract.StatusQuorumReached:
		if c.decisionDue != nil && c.st.Attention == "" {
			return *c.decisionDue, "substrate decision timeout"
		}
	}
	return timeZero, ""
}

// armTimer makes the timer match nextWake, replacing it when that moved.
func (c *ceremony) armTimer(ctx workflow.Context) {
	want, why := c.nextWake()
	if want.Equal(c.timerFor) && (c.timer != nil || want.IsZero()) {
		return
	}
	if c.stopTimer != nil {
		c.stopTimer()
		c.stopTimer = nil
	}
	c.timer, c.timerFor = nil, want
	if want.IsZero() {
		return
	}
	tctx, cancel := workflow.WithCancel(ctx)
	c.stopTimer = cancel
	c.timer = workflow.NewTimerWithOptions(tctx, max(want.Sub(workflow.Now(ctx)), 0), workflow.TimerOptions{Summary: why})
}

// onWake handles whatever is due now.
func (c *ceremony) onWake(actx workflow.Context) {
	now := workflow.Now(actx)
	switch c.st.Status {
	case contract.StatusCollecting:
		if !now.Before(c.st.Spec.Deadline) {
			c.setStatus(actx, contract.StatusExpired, "deadline passed without quorum", "")
			return
		}
		if c.reminderStep < len(ReminderLadder) && !now.Before(c.reminderDue(c.reminderStep)) {
			// Only the latest due step goes out if several are due at once.
			for c.reminderStep+1 < len(ReminderLadder) && !now.Before(c.reminderDue(c.reminderStep+1)) {
				c.reminderStep++
			}
			pct := ReminderLadder[c.reminderStep]
			c.reminderStep++
			c.st.RemindersSent++
			c.notifyReminder(actx, pct)
		}
	case contract.StatusQuorumReached:
		if c.decisionDue != nil && !now.Before(*c.decisionDue) && c.st.Attention == "" {
			c.flagAttention(actx, contract.AttentionSubstrateTimeout,
				fmt.Sprintf("quorum reached at %s but the substrate has not sealed or aborted it within %s",
					fmtTime(*c.st.QuorumReachedAt), c.decisionTimeout()))
		}
	}
}

// flagAttention marks the ceremony for operators: state, search attribute,
// custody event and a notification to the initiator. The ceremony keeps waiting.
func (c *ceremony) flagAttention(actx workflow.Context, reason, detail string) {
	c.st.Attention = reason
	c.seqs.Attention++
	c.upsertSearchAttributes(actx)
	if err := workflow.ExecuteActivity(actx, a.RecordAttention, activities.Attention{
		CeremonyID: c.st.CeremonyID, Reason: reason, Detail: detail, At: workflow.Now(actx), Seq: c.seqs.Attention,
	}).Get(actx, nil); err != nil {
		workflow.GetLogger(actx).Error("record attention failed", "error", err)
	}
	c.showLive(actx, c.attentionEvent(detail))
	c.notifyAttention(actx, detail)
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
