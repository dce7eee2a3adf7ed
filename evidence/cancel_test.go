package evidence_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/evidence"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

// cancelled opens the demo ceremony and records its cancel as the workflow
// does, vouched with the key of secret (registered when it is webSecret), or
// unvouched (operator) when secret is "".
func cancelled(t *testing.T, s *store.Store, secret string) {
	t.Helper()
	ctx := context.Background()
	if err := s.RecordOpened(ctx, store.Opened{Spec: demoSpec(), WorkflowID: "ceremony/" + cid, OpenedAt: t0}); err != nil {
		t.Fatal(err)
	}
	msg := contract.Cancel{IdempotencyKey: "withdraw:ivy:1", By: "ivy@guildhouse.dev", Reason: "withdrawn by Ivy: wrong artifact"}
	ch := store.StatusChange{Status: contract.StatusCancelled, Reason: msg.Reason, Actor: msg.By, At: t0.Add(time.Minute), Seq: 1,
		Assurance: contract.AssuranceOperator, MessageKey: msg.IdempotencyKey}
	if secret != "" {
		priv, err := statement.WebKey([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		if secret == webSecret {
			pub := statement.WebPublicKey(priv.Public().(ed25519.PublicKey))
			if err := s.RegisterWebKey(ctx, pub.KeyID, pub.PublicKey); err != nil {
				t.Fatal(err)
			}
		}
		if ch.Vouch, err = statement.SignCancelVouch(priv, cid, msg, contract.AssuranceSession, statement.MethodDevLogin, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		ch.Assurance, ch.AssuranceMethod = contract.AssuranceSession, statement.MethodDevLogin
	}
	if err := s.RecordStatus(ctx, cid, ch); err != nil {
		t.Fatal(err)
	}
}

// A bundle says how the cancel's sender was authenticated, and a session
// claim holds only with the web app's vouch for exactly that cancel.
func TestCancelAssuranceInEvidence(t *testing.T) {
	for _, c := range []struct{ name, secret, want string }{
		{"vouched", webSecret, "session (dev-login)"},
		{"operator", "", "operator"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := storetest.SQLite(t)
			cancelled(t, s, c.secret)
			r, err := evidence.Verify(export(t, s, evidence.Options{}))
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != string(contract.StatusCancelled) || r.CloseAssurance != c.want || r.ClosedBy != "ivy@guildhouse.dev" {
				t.Fatalf("report %s, cancel by %q with %q; want cancelled by ivy with %q", r.Status, r.ClosedBy, r.CloseAssurance, c.want)
			}
		})
	}
	// Written with a vouch by a key the web app never registered (by someone
	// with database access, say): the session claim is refused.
	s := storetest.SQLite(t)
	cancelled(t, s, "not-the-web-app-secret-0123456789abcdef")
	_, err := evidence.Verify(export(t, s, evidence.Options{}))
	if err == nil || !strings.Contains(err.Error(), "the cancel claims session assurance for ivy@guildhouse.dev, but the web app's vouch does not check out") {
		t.Fatalf("verify: %v", err)
	}
}
