package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/statement"
)

// keysChange versions the loading of witnesses' signing keys and the checking
// of signed statements, added after the replay histories were captured: runs
// recorded without it (DefaultVersion) neither load keys nor check statements,
// exactly as they did.
const keysChange = "witness-keys"

// WitnessKeys are the witnesses' registered public keys, sorted by witness id,
// type and key id.
type WitnessKeys []statement.PublicKey

// keysEnabled reports whether this run verifies statements. It records the
// version marker the first time it is asked outside a replay; the validator,
// which may not record anything, reads c.keysOn instead.
func (c *ceremony) keysEnabled(ctx workflow.Context) bool { return changed(ctx, keysChange, &c.keysOn) }

// changed reports whether this run takes a change's path (workflow.GetVersion,
// version 1), recording the marker the first time it is asked outside a replay;
// *on remembers the answer. Never call it from an update validator or a query
// (they may not record anything): they read the flag.
func changed(ctx workflow.Context, change string, on *bool) bool {
	if !*on && workflow.GetVersion(ctx, change, workflow.DefaultVersion, 1) >= 1 {
		*on = true
	}
	return *on
}

// loadKeys replaces the cached keys of ids with what the Ops DB has now.
func (c *ceremony) loadKeys(actx workflow.Context, ids []string) {
	if len(ids) == 0 {
		return
	}
	var fresh []statement.PublicKey
	if err := c.execDB(actx, a.LoadSigningKeys, ids).Get(actx, &fresh); err != nil {
		workflow.GetLogger(actx).Error("load signing keys failed", "error", err)
		return
	}
	c.replaceKeys(ids, fresh)
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// verifyProof checks a sign request's statement and proof against the cached
// keys (statement.VerifyRequest): pure, so the validator can call it. With
// deferCache, what only the cache can refuse is let through, and the main loop
// reloads the witness's keys and checks again (deferCache=false): a proof by a
// key the cache does not know (registered after the ceremony opened), and an
// unsigned decision by a witness the cache holds keys for (they may have
// removed them all since; then a session decision is what the web app offers).
func (c *ceremony) verifyProof(now time.Time, req contract.SignRequest, deferCache bool) error {
	if !c.keysOn {
		return nil
	}
	err := statement.VerifyRequest(c.st, req, c.keys, now)
	if err == nil || !deferCache {
		return proofRejection(err)
	}
	if req.Proof == nil && req.Statement == "" {
		return nil
	}
	if req.Proof != nil && req.Statement != "" && !c.knowsKey(req.WitnessID, req.Proof.KeyID) {
		if why := statementProblem(c.st, req, now); why == nil {
			return nil
		}
	}
	return proofRejection(err)
}

// proofRejection turns a statement.VerifyRequest error into the rejection callers see.
func proofRejection(err error) error {
	if err == nil {
		return nil
	}
	var p *statement.Problem
	if errors.As(err, &p) {
		return rejection(p.Code, p.Reason)
	}
	return rejection("bad_signature", err.Error())
}

func (c *ceremony) knowsKey(witness, keyID string) bool {
	for _, k := range c.keys {
		if k.WitnessID == witness && k.KeyID == keyID {
			return true
		}
	}
	return false
}

// statementProblem checks everything about a signed request except the
// signature itself, by verifying against no keys and looking at why it failed.
func statementProblem(st contract.State, req contract.SignRequest, now time.Time) error {
	s, err := statement.Parse([]byte(req.Statement))
	if err != nil {
		return err
	}
	if why := s.Matches(st.Spec, req.WitnessID, req.Decision, req.Comment); why != "" {
		return errors.New(why)
	}
	issued, err := s.Issued()
	if err != nil {
		return err
	}
	if issued.After(now.Add(statement.MaxSkew)) || (!st.OpenedAt.IsZero() && issued.Before(st.OpenedAt.Add(-statement.MaxSkew))) {
		return errors.New("statement time out of range")
	}
	return nil
}
