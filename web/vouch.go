package web

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
)

// The web app tells the workflow how it authenticated a signer with a vouch
// (statement.SignVouch): a signature it sends for a web login counts as session
// assurance, one for an API token as token assurance, because the workflow
// verifies the vouch against the web keys registered in the Ops DB. Anyone who
// sends to Temporal without the web's key gets operator. The key is derived
// from the session secret, so all replicas share it with no new secret.

// webVoucher holds the vouching key and whether the Ops DB has it registered.
type webVoucher struct {
	key        ed25519.PrivateKey
	registered atomic.Bool
}

// WebKeyStore is where the web registers its vouching key; *store.Store has it.
// A key an operator retired is refused with a *store.WebKeyRetiredError, and
// the app then refuses to start (New).
type WebKeyStore interface {
	RegisterWebKey(ctx context.Context, keyID, publicKey string) error
}

func newWebVoucher(secret []byte) (*webVoucher, error) {
	k, err := statement.WebKey(secret)
	if err != nil {
		return nil, err
	}
	return &webVoucher{key: k}, nil
}

// register records the vouching key in the Ops DB once (a workflow trusts only
// registered keys); it is tried at start and again before a vouch until it works.
func (a *App) registerVouchingKey(ctx context.Context) error {
	if a.voucher.registered.Load() {
		return nil
	}
	ks, ok := a.store.(WebKeyStore)
	if !ok {
		return fmt.Errorf("the store cannot register the web's vouching key")
	}
	pub := statement.WebPublicKey(a.voucher.key.Public().(ed25519.PublicKey))
	if err := ks.RegisterWebKey(ctx, pub.KeyID, pub.PublicKey); err != nil {
		return fmt.Errorf("register the web's vouching key: %w", err)
	}
	a.voucher.registered.Store(true)
	a.log.Info("web vouching key registered", "key", pub.KeyID)
	return nil
}

// retiredKeyMessage is what a replica whose vouching key an operator retired
// stops with at start: which key, by whom, when and why, and what to do. The
// key id is a hash of the public key; the secret is never named.
func retiredKeyMessage(err error) (string, bool) {
	var r *store.WebKeyRetiredError
	if !errors.As(err, &r) {
		return "", false
	}
	return fmt.Sprintf("this replica's vouching key %s was retired by %s at %s (%s): SESSION_SECRET is the old one; set the new secret",
		r.Key.KeyID, r.Key.RetiredBy, r.Key.RetiredAt.UTC().Format(time.RFC3339), r.Key.RetireReason), true
}

// vouchAs is how the web vouches for the viewer of ctx, after registering its
// key and checking their session or token is still live: session assurance for
// a web login (by how the viewer logged in), token for an API token.
func (a *App) vouchAs(ctx context.Context) (contract.Assurance, string, error) {
	if err := a.registerVouchingKey(ctx); err != nil {
		return "", "", err
	}
	// A session or token ended since the request began gets no vouch.
	v := viewerFrom(ctx)
	if err := a.stillLive(ctx, v); err != nil {
		return "", "", err
	}
	level, method := contract.AssuranceSession, statement.MethodOIDC
	switch v.Via {
	case "token":
		level, method = contract.AssuranceToken, statement.MethodAPIToken
	case "dev":
		method = statement.MethodDevLogin
	}
	return level, method, nil
}

// vouch adds the web's vouch to an unsigned sign request.
func (a *App) vouch(ctx context.Context, ceremonyID string, req *contract.SignRequest) error {
	level, method, err := a.vouchAs(ctx)
	if err != nil {
		return err
	}
	vch, err := statement.SignVouch(a.voucher.key, ceremonyID, *req, level, method, time.Now())
	if err != nil {
		return err
	}
	req.Vouch = vch
	return nil
}

// vouchCancel adds the web's vouch to a withdraw's cancel, so the workflow
// records who withdrew as authenticated (session or token), not as a name
// anyone with Temporal access could have typed (operator).
func (a *App) vouchCancel(ctx context.Context, ceremonyID string, msg *contract.Cancel) error {
	level, method, err := a.vouchAs(ctx)
	if err != nil {
		return err
	}
	vch, err := statement.SignCancelVouch(a.voucher.key, ceremonyID, *msg, level, method, time.Now())
	if err != nil {
		return err
	}
	msg.Vouch = vch
	return nil
}
