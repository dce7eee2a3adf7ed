package chronicle

import (
	"context"
	"errors"
	"fmt"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/store"
)

// IntuneDeployments is what the withdrawal reads; *store.Store satisfies it.
type IntuneDeployments interface {
	IntuneDeploymentsOf(ctx context.Context, digest string) ([]store.IntuneDeployment, error)
}

// StartIntune starts an IntuneDeploy run (ceremonyclient.Client.StartIntune),
// joining one already running for the same ceremony and decision.
type StartIntune func(ctx context.Context, job contract.IntuneJob) error

// IntuneWithdrawal starts withdrawing a revoked artifact's Intune deployments
// (the Graph bridge) when an artifact.revoked event is projected: one
// IntuneDeploy run per deployment whose decision is still the release. A
// deployment already withdrawn, or being withdrawn, is left alone, so a
// resent event starts nothing twice.
type IntuneWithdrawal struct {
	Deployments IntuneDeployments
	Start       StartIntune
}

// withdraw starts the withdrawals for digest; by names the event.
func (w *IntuneWithdrawal) withdraw(ctx context.Context, digest, by string) error {
	ds, err := w.Deployments.IntuneDeploymentsOf(ctx, digest)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range ds {
		if d.Decision != string(contract.IntuneReleased) {
			continue
		}
		job := contract.IntuneJob{CeremonyID: d.CeremonyID, Decision: contract.IntuneRevoked, Digest: digest,
			Cause: contract.IntuneCauseRevoked, By: by}
		if err := w.Start(ctx, job); err != nil {
			errs = append(errs, fmt.Errorf("ceremony %s: %w", d.CeremonyID, err))
		}
	}
	return errors.Join(errs...)
}

// WithIntune makes the projector start withdrawing a revoked artifact's Intune
// deployments (see IntuneWithdrawal). If that cannot be started, projecting
// the event fails as worth retrying: the event itself is recorded once, and a
// resend starts what is missing. (The drift check starts it too, should no
// one resend.)
func (p *Projector) WithIntune(w *IntuneWithdrawal) *Projector {
	p.intune = w
	return p
}
