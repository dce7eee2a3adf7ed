package workflows_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/statement"
)

func vouchedCancel(t *testing.T, priv ed25519.PrivateKey, id string, msg contract.Cancel, level contract.Assurance, method string) contract.Cancel {
	t.Helper()
	v, err := statement.SignCancelVouch(priv, id, msg, level, method, time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	msg.Vouch = v
	return msg
}

// A cancel records how its sender was authenticated, never more than the
// workflow can check: the web's vouch for exactly this cancel by a registered
// web key is session or token; no vouch (a cancel sent to Temporal directly),
// a vouch for another reason or another person, a signature's vouch, or a vouch
// by a key retired since, is operator. Every one of them cancels: an operator
// may; the record says what it was.
func TestCancelAssurance(t *testing.T) {
	secret := strings.Repeat("s", 32)
	msg := contract.Cancel{IdempotencyKey: "withdraw:ivy:1", By: "ivy", Reason: "withdrawn by Ivy: wrong artifact"}
	id := testSpec().ID
	cases := []struct {
		name   string
		cancel func(t *testing.T, web ed25519.PrivateKey) contract.Cancel
		retire bool
		level  contract.Assurance
		method string
	}{
		{"session", func(t *testing.T, web ed25519.PrivateKey) contract.Cancel {
			return vouchedCancel(t, web, id, msg, contract.AssuranceSession, statement.MethodDevLogin)
		}, false, contract.AssuranceSession, statement.MethodDevLogin},
		{"token", func(t *testing.T, web ed25519.PrivateKey) contract.Cancel {
			return vouchedCancel(t, web, id, msg, contract.AssuranceToken, statement.MethodAPIToken)
		}, false, contract.AssuranceToken, statement.MethodAPIToken},
		{"unvouched", func(*testing.T, ed25519.PrivateKey) contract.Cancel { return msg }, false, contract.AssuranceOperator, ""},
		{"reason altered", func(t *testing.T, web ed25519.PrivateKey) contract.Cancel {
			m := vouchedCancel(t, web, id, msg, contract.AssuranceSession, statement.MethodOIDC)
			m.Reason = "withdrawn by Ivy: something else"
			return m
		}, false, contract.AssuranceOperator, ""},
		{"by altered", func(t *testing.T, web ed25519.PrivateKey) contract.Cancel {
			m := vouchedCancel(t, web, id, msg, contract.AssuranceSession, statement.MethodOIDC)
			m.By = "ada"
			return m
		}, false, contract.AssuranceOperator, ""},
		{"a signature's vouch", func(t *testing.T, web ed25519.PrivateKey) contract.Cancel {
			req := vouched(t, web, id, contract.SignRequest{IdempotencyKey: msg.IdempotencyKey, WitnessID: msg.By, Decision: contract.Reject, Comment: msg.Reason},
				contract.AssuranceSession, statement.MethodOIDC)
			m := msg
			m.Vouch = req.Vouch
			return m
		}, false, contract.AssuranceOperator, ""},
		{"key retired since opening", func(t *testing.T, web ed25519.PrivateKey) contract.Cancel {
			return vouchedCancel(t, web, id, msg, contract.AssuranceSession, statement.MethodOIDC)
		}, true, contract.AssuranceOperator, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			web := webKey(t, h.store, secret)
			sent := c.cancel(t, web)
			if c.retire {
				h.env.RegisterDelayedCallback(func() {
					if _, err := h.store.RetireWebKey(context.Background(), statement.KeyID(web.Public().(ed25519.PublicKey)), "cli:ops", "leaked"); err != nil {
						t.Error(err)
					}
				}, time.Minute)
			}
			h.signal(2*time.Minute, contract.SignalCancel, sent)
			h.env.ExecuteWorkflow(contract.WorkflowType, testSpec())
			st := h.state()
			if st.Status != contract.StatusCancelled || st.Reason != sent.Reason {
				t.Fatalf("status %s (%s), want cancelled (%s)", st.Status, st.Reason, sent.Reason)
			}
			if st.CloseAssurance != c.level || st.CloseAssuranceMethod != c.method {
				t.Fatalf("close assurance %q (%q), want %q (%q)", st.CloseAssurance, st.CloseAssuranceMethod, c.level, c.method)
			}
			data := statusEventData(t, h, id, contract.StatusCancelled)
			wantWords := string(c.level)
			if c.method != "" {
				wantWords += " (" + c.method + ")"
			}
			if data["assurance"] != wantWords || data["messageKey"] != sent.IdempotencyKey {
				t.Errorf("custody data %v, want assurance %q and messageKey %q", data, wantWords, sent.IdempotencyKey)
			}
			_, hasVouch := data["vouch"]
			pub, _ := data["vouchPublicKey"].(string)
			if vouched := c.level != contract.AssuranceOperator; hasVouch != vouched || (vouched && pub != statement.WebPublicKey(web.Public().(ed25519.PublicKey)).PublicKey) {
				t.Errorf("custody data %v: vouch recorded %v with key %q, want %v", data, hasVouch, pub, vouched)
			}
		})
	}
}

// statusEventData is the data of the ceremony's status_changed event to status.
func statusEventData(t *testing.T, h *harness, id string, status contract.Status) map[string]any {
	t.Helper()
	events, err := h.store.CeremonyCustody(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		var ev custody.Event
		if err := json.Unmarshal([]byte(e.Body), &ev); err != nil {
			t.Fatal(err)
		}
		var data map[string]any
		_ = json.Unmarshal(ev.Data, &data)
		if ev.Type == custody.TypeStatusChanged && data["status"] == string(status) {
			return data
		}
	}
	t.Fatalf("no status_changed event to %s", status)
	return nil
}
