package workflows

import (
	"encoding/json"
	"errors"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
)

// FuzzDecoders feeds arbitrary bytes to every decoder a signal or update payload
// goes through. None may panic, and every refusal must be a rejection the
// workflow can record (an ApplicationError with code "invalid"), never an error
// that would fail a workflow task.
//
// Run longer with: go test ./workflows -run '^$' -fuzz FuzzDecoders -fuzztime 60s
func FuzzDecoders(f *testing.F) {
	for _, seed := range []string{
		`{"idempotencyKey":"k-1","witnessId":"alice@guildhouse.dev","decision":"approve","comment":"lgtm"}`,
		`{"idempotencyKey":"k","witnessId":"a","decision":"reject","proof":{"type":"ed25519","keyId":"k","signature":"AAAA"}}`,
		`{"idempotencyKey":"k-2","by":"operator","reason":"wrong artifact"}`,
		`{"idempotencyKey":"k-3","phase":"Sealed","generation":2}`,
		`{"idempotencyKey":"k-4","generation":2,"spec":{"id":"a/b","kind":"release","artifact":{"name":"x","digest":"sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"},"initiator":"ivy","witnesses":[{"id":"alice","role":"security"}],"quorum":{"threshold":1,"roles":{"security":1},"veto":["security"]},"deadline":"2030-01-01T00:00:00Z"}}`,
		`null`, `[]`, `"a string"`, `{"witnessId":42}`, `{"idempotencyKey":"x"} trailing`, `{"colour":"red"}`,
		`{"idempotencyKey":"k","witnessId":" ","decision":"approve"}`, `{"generation":"two"}`, "\xff\xfe", ``,
		`{"spec":{"deadline":"yesterday"}}`, `{"idempotencyKey":"k","witnessId":"a","decision":"maybe"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRejection := func(what string, err error) {
			if err == nil {
				return
			}
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != "invalid" || !app.NonRetryable() {
				t.Fatalf("%s: refusal %v is not an invalid rejection", what, err)
			}
		}
		req, err := decodeSign(data)
		checkRejection("sign", err)
		if err == nil && (req.IdempotencyKey == "" || req.WitnessID == "" ||
			(req.Decision != contract.Approve && req.Decision != contract.Reject)) {
			t.Fatalf("sign accepted an incomplete request: %+v", req)
		}
		var cancel contract.Cancel
		checkRejection("cancel", decodeStrict(data, &cancel))
		var decision contract.SubstrateDecision
		checkRejection("substrate-decision", decodeStrict(data, &decision))
		var changed contract.SpecChanged
		if err := decodeStrict(data, &changed); err == nil {
			// Neither check may panic on anything that decodes.
			_ = legacySpecProblem(changed.Spec)
			_ = rules.ValidateSpec(changed.Spec, changed.Spec.Deadline)
		} else {
			checkRejection("spec-changed", err)
		}
		// A payload in any encoding is either JSON for the decoders or a reason.
		for _, enc := range []string{"json/plain", "binary/plain", "binary/null", "json/protobuf", ""} {
			p := &commonpb.Payload{Metadata: map[string][]byte{converter.MetadataEncoding: []byte(enc)}, Data: data}
			raw, problem := payloadJSON(converter.NewRawValue(p))
			if (problem == "") == (enc != "json/plain" && enc != "binary/null" && enc != "") {
				t.Fatalf("encoding %q: problem %q", enc, problem)
			}
			if enc == "json/plain" && string(raw) != string(data) {
				t.Fatal("json payload altered")
			}
		}
		// Whatever was accepted survives a trip through continue-as-new.
		if _, err := json.Marshal(Continued{Inbox: []Message{{Name: "x", Payload: data}}}); err != nil {
			t.Fatalf("carried message does not encode: %v", err)
		}
	})
}
