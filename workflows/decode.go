package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
)

// MaxPayload bounds a message payload; everything a ceremony keeps in its state
// is bounded too, so no input can grow the state past what continue-as-new and
// the search attributes accept.
const MaxPayload = 64 << 10

// decodeStrict decodes one JSON object, refusing unknown fields and trailing data,
// so a typo in a hand-typed payload is an error rather than a silent no-op.
func decodeStrict(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return rejection("invalid", "empty or undecodable payload")
	}
	if len(raw) > MaxPayload {
		return rejection("invalid", fmt.Sprintf("payload of %d bytes is larger than %d", len(raw), MaxPayload))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return rejection("invalid", "malformed payload: "+err.Error())
	}
	if dec.More() {
		return rejection("invalid", "malformed payload: trailing data after the JSON object")
	}
	return nil
}

// decodeMessage decodes a signal payload strictly into v and requires its
// idempotency key (read through key after decoding). perr is a failure to read
// the payload at all; it wins.
func decodeMessage(raw []byte, perr error, v any, key func() string) error {
	if perr != nil {
		return perr
	}
	if err := decodeStrict(raw, v); err != nil {
		return err
	}
	return requireKey(key())
}

// decodeSign decodes and checks the shape of a sign request (rules.CheckSignRequest).
// It returns what it could decode even on error, so rejections can name the
// witness and key.
func decodeSign(raw json.RawMessage) (contract.SignRequest, error) {
	var req contract.SignRequest
	if err := decodeStrict(raw, &req); err != nil {
		return req, err
	}
	req.WitnessID = strings.TrimSpace(req.WitnessID)
	if ps := rules.CheckSignRequest(req); len(ps) > 0 {
		return req, rejection("invalid", ps[0].String())
	}
	return req, nil
}

// maxReason bounds a refusal's reason kept in the state.
const maxReason = 4000

// clip shortens a value echoed back in a rejection.
func clip(s string) string { return rules.Clip(s) }
