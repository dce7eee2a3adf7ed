package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/notify"
	"github.com/guildhouse/guildhall/rules"
)

// notify sends a notification in the background: the ceremony does not wait for
// mail servers. Each delivery is a custody event (written by the activity); after
// NotifyAttempts failed tries the failure is one too. The workflow finishes (or
// continues as new) only after every notification has.
func (c *ceremony) notify(actx workflow.Context, kind string, to []string, subject, text string) {
	if len(to) == 0 {
		return
	}
	c.seqs.Notify++
	n := activities.Notification{
		Key:        fmt.Sprintf("notify/%s/%d/%s", c.st.CeremonyID, c.seqs.Notify, kind),
		CeremonyID: c.st.CeremonyID, Kind: kind, To: to, Subject: subject, Text: text, At: workflow.Now(actx),
	}
	c.background++
	workflow.Go(actx, func(gctx workflow.Context) {
		defer func() { c.background-- }()
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(gctx, notifyOptions), a.Notify, n).Get(gctx, nil)
		if err == nil {
			return
		}
		msg := err.Error()
		var app *temporal.ApplicationError
		if errors.As(err, &app) {
			msg = app.Error()
		}
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(gctx, activityOptions), a.RecordNotificationFailed,
			activities.NotificationFailed{Notification: n, Error: msg}).Get(gctx, nil); err != nil {
			workflow.GetLogger(gctx).Error("record notification failure failed", "key", n.Key, "error", err)
		}
	})
}

func (c *ceremony) describe() string {
	s := c.st.Spec
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nArtifact: %s\nDigest:   %s\n", rules.Title(s), s.Artifact.Name, s.Artifact.Digest)
	if s.Artifact.URI != "" {
		fmt.Fprintf(&b, "URI:      %s\n", s.Artifact.URI)
	}
	fmt.Fprintf(&b, "Initiator: %s\nQuorum: %s\nDeadline: %s\n", s.Initiator, rules.PolicyWords(s.Quorum), fmtTime(s.Deadline))
	if s.Intune != nil {
		fmt.Fprintf(&b, "Intune: once sealed, %s\n", rules.IntuneWords(s.Intune))
	}
	if s.Description != "" {
		b.WriteString("\n" + s.Description + "\n")
	}
	return b.String()
}

func (c *ceremony) notifyOpened(actx workflow.Context) {
	c.notify(actx, notify.KindOpened, c.memberIDs(),
		"Your signature is requested: "+rules.Title(c.st.Spec),
		fmt.Sprintf("%s asks you to witness this ceremony and approve or reject it.\n\n%s", c.st.Spec.Initiator, c.describe()))
}

func (c *ceremony) notifyReminder(actx workflow.Context, pct int64) {
	c.notify(actx, notify.KindReminder, c.st.Pending,
		fmt.Sprintf("Reminder: %s needs your signature by %s", rules.Title(c.st.Spec), fmtTime(c.st.Spec.Deadline)),
		fmt.Sprintf("%d%% of the signing window has passed and you have not signed yet (%d of %d approvals so far).\n\n%s",
			pct, c.st.Approvals, c.st.Spec.Quorum.Threshold, c.describe()))
}

func (c *ceremony) notifyOutcome(actx workflow.Context) {
	to := append(c.memberIDs(), c.st.Spec.Initiator)
	c.notify(actx, notify.KindOutcome, uniqueSorted(to),
		fmt.Sprintf("%s: %s", rules.Title(c.st.Spec), strings.ReplaceAll(string(c.st.Status), "_", " ")),
		fmt.Sprintf("The ceremony is now %s: %s.\nApprovals: %d, rejections: %d.\n\n%s",
			c.st.Status, c.st.Reason, c.st.Approvals, c.st.Rejections, c.describe()))
}

func (c *ceremony) notifyAmended(actx workflow.Context, to []string, am contract.Amendment) {
	var b strings.Builder
	fmt.Fprintf(&b, "The ceremony was amended (generation %d):\n", am.Generation)
	for _, ch := range am.Changes {
		b.WriteString("  - " + ch + "\n")
	}
	if am.Voided > 0 {
		fmt.Fprintf(&b, "\n%d collected signature(s) were voided. If yours was one of them, please review and sign again.\n", am.Voided)
	}
	b.WriteString("\n" + c.describe())
	c.notify(actx, notify.KindAmended, to, "Amended: "+rules.Title(c.st.Spec), b.String())
}

func (c *ceremony) notifyAttention(actx workflow.Context, detail string) {
	c.notify(actx, notify.KindAttention, []string{c.st.Spec.Initiator},
		"Needs an operator: "+rules.Title(c.st.Spec), detail+".\n\nSee the runbook: seal, abort or cancel it by hand.\n\n"+c.describe())
}

func uniqueSorted(in []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}
