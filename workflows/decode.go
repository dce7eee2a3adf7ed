package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/guildhouse/guildhall/contract"
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

// decodeSign decodes and checks the shape of a sign request. It returns what it
// could decode even on error, so rejections can name the witness and key.
func decodeSign(raw json.RawMessage) (contract.SignRequest, error) {
	var req contract.SignRequest
	if err := decodeStrict(raw, &req); err != nil {
		return req, err
	}
	req.WitnessID = strings.TrimSpace(req.WitnessID)
	switch {
	case req.IdempotencyKey == "":
		return req, rejection("invalid", "idempotencyKey is required")
	case len(req.IdempotencyKey) > maxKey:
		return req, rejection("invalid", fmt.Sprintf("idempotencyKey is longer than %d characters", maxKey))
	case req.WitnessID == "":
		return req, rejection("invalid", "witnessId is required")
	case len(req.WitnessID) > maxID:
		return req, rejection("invalid", fmt.Sprintf("witnessId is longer than %d characters", maxID))
	case req.Decision != contract.Approve && req.Decision != contract.Reject:
		return req, rejection("invalid", fmt.Sprintf("decision must be %q or %q, not %q", contract.Approve, contract.Reject, clip(string(req.Decision))))
	case len(req.Comment) > 4000:
		return req, rejection("invalid", "comment is longer than 4000 characters")
	case len(req.Via) > 32:
		return req, rejection("invalid", "via is longer than 32 characters")
	}
	return req, nil
}

// Limits on what a ceremony keeps (see MaxPayload).
const (
	maxKey       = 200 // idempotency keys
	maxID        = 254 // witness, initiator and ceremony ids
	maxWitnesses = 100
	maxText      = 4000 // descriptions, reasons
)

// clip shortens a value echoed back in a rejection.
func clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	return s[:77] + "..."
}

var digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// validateSpec returns a plain-words problem with the spec, or "".
func validateSpec(s contract.Spec) string {
	switch {
	case s.ID == "":
		return "id is empty"
	case len(s.ID) > maxID:
		return fmt.Sprintf("id is longer than %d characters", maxID)
	case s.Kind == "" || len(s.Kind) > 64:
		return "kind must be 1 to 64 characters"
	case len(s.Title) > 200:
		return "title is longer than 200 characters"
	case len(s.Description) > maxText:
		return fmt.Sprintf("description is longer than %d characters", maxText)
	case !digestPattern.MatchString(s.Artifact.Digest):
		return fmt.Sprintf("artifact digest %q is not sha256:<64 hex digits>", clip(s.Artifact.Digest))
	case len(s.Artifact.Name) > 256 || len(s.Artifact.URI) > 2048:
		return "artifact name or uri is too long"
	case len(s.Initiator) > maxID:
		return "initiator id is too long"
	case len(s.Witnesses) == 0:
		return "no witnesses"
	case len(s.Witnesses) > maxWitnesses:
		return fmt.Sprintf("more than %d witnesses", maxWitnesses)
	case s.Quorum.Threshold < 1:
		return "threshold must be at least 1"
	case len(s.Quorum.Roles) > 32 || len(s.Quorum.Veto) > 32:
		return "too many roles in the quorum policy"
	case s.Deadline.IsZero():
		return "deadline is missing"
	}
	for _, w := range s.Witnesses {
		switch {
		case strings.TrimSpace(w.ID) == "" || len(w.ID) > maxID:
			return fmt.Sprintf("witness id %q must be 1 to %d characters", clip(w.ID), maxID)
		case len(w.Role) > 64:
			return fmt.Sprintf("role of %s is longer than 64 characters", clip(w.ID))
		}
	}
	for _, r := range s.Quorum.Veto {
		if len(r) > 64 {
			return "veto role is longer than 64 characters"
		}
	}
	for _, r := range slices.Sorted(maps.Keys(s.Quorum.Roles)) {
		if len(r) > 64 {
			return "role is longer than 64 characters"
		}
	}
	return ""
}
