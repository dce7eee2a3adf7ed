package intune

import (
	"context"
	"fmt"
	"strings"

	"github.com/guildhouse/guildhall/contract"
)

// Decision is which decision about a target an operation carries out or checks
// (contract.IntuneDecision).
type Decision = contract.IntuneDecision

const (
	// Released: the ceremony sealed the release; the target's groups get their intents.
	Released = contract.IntuneReleased
	// Revoked: the artifact was revoked; the target's groups are withdrawn per OnRevoke.
	Revoked = contract.IntuneRevoked
)

// Result is what an operation saw and did, for the custody chain and the
// evidence bundle. It is filled as far as the operation got, also on error.
type Result struct {
	Decision Decision  `json:"decision"`
	AppID    string    `json:"appId"`
	App      MobileApp `json:"app"`
	// Before is every assignment the app had when the operation read it.
	Before []Assignment `json:"before"`
	// Changes are the differences found (Apply/Revoke: what the assign call
	// changed; Check: the drift). Empty: Intune matched the decision.
	Changes []Change `json:"changes"`
	// Assigned is true when an assign call was made and accepted.
	Assigned bool `json:"assigned"`
	// After is every assignment as read back after the assign call (Before when
	// none was made).
	After []Assignment `json:"after"`
	// Managed are the target groups' assignments in After, with the ids Intune
	// gave them: the record of what Guildhall made.
	Managed []Assignment `json:"managed"`
	// Remaining are differences still visible after the assign call (normally
	// none; Intune may take a moment). The drift check picks them up.
	Remaining []Change `json:"remaining,omitempty"`
	// Calls are the HTTP exchanges in order, each with its status.
	Calls []Call `json:"calls"`
}

// Apply makes the app's assignments carry out a sealed release (see PlanRelease). It
// reads the app and its assignments, posts the full set only when something
// differs, and reads them back. A second run finds nothing to change and
// posts nothing.
func (c *Client) Apply(ctx context.Context, t Target) (Result, error) {
	return c.run(ctx, t, Released, true)
}

// Revoke withdraws a revoked release (see PlanRevoke), by the same steps as Apply.
func (c *Client) Revoke(ctx context.Context, t Target) (Result, error) {
	return c.run(ctx, t, Revoked, true)
}

// Check reads the app's assignments and reports how they differ from the
// decision (the drift), changing nothing.
func (c *Client) Check(ctx context.Context, t Target, d Decision) (Result, error) {
	return c.run(ctx, t, d, false)
}

func (c *Client) run(ctx context.Context, t Target, d Decision, write bool) (r Result, err error) {
	rec := &recorder{}
	r = Result{Decision: d, AppID: t.AppID}
	defer func() { r.Calls = rec.list() }()
	if d != Released && d != Revoked {
		return r, &Error{Kind: KindInvalid, Op: "plan", Message: fmt.Sprintf("decision %q is neither %s nor %s", d, Released, Revoked)}
	}
	if err := validTarget(t); err != nil {
		return r, err
	}
	if r.App, err = c.getApp(ctx, rec, t.AppID); err != nil {
		return r, err
	}
	if r.Before, err = c.listAssignments(ctx, rec, t.AppID); err != nil {
		return r, err
	}
	p := PlanFor(t, d, r.Before)
	r.Changes, r.After, r.Managed = p.Changes, r.Before, Managed(t, r.Before)
	if !write || len(p.Changes) == 0 {
		return r, nil
	}
	if conflicts := p.Conflicts(); len(conflicts) > 0 {
		words := make([]string, len(conflicts))
		for i, cf := range conflicts {
			words[i] = cf.Text
		}
		return r, &Error{Kind: KindConflict, Op: "plan", Message: strings.Join(words, "; ")}
	}
	if err = c.assign(ctx, rec, t.AppID, p.Assignments); err != nil {
		return r, err
	}
	r.Assigned = true
	if r.After, err = c.listAssignments(ctx, rec, t.AppID); err != nil {
		return r, err
	}
	r.Managed, r.Remaining = Managed(t, r.After), Drift(t, d, r.After)
	return r, nil
}
