package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/guildhouse/guildhall/contract"
)

// decodeStrict decodes one JSON object, refusing unknown fields and trailing data,
// so a typo in a hand-typed payload is an error rather than a silent no-op.
func decodeStrict(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return rejection("invalid", "empty or undecodable payload")
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
	case req.WitnessID == "":
		return req, rejection("invalid", "witnessId is required")
	case req.Decision != contract.Approve && req.Decision != contract.Reject:
		return req, rejection("invalid", fmt.Sprintf("decision must be %q or %q, not %q", contract.Approve, contract.Reject, req.Decision))
	case len(req.Comment) > 4000:
		return req, rejection("invalid", "comment is longer than 4000 characters")
	}
	return req, nil
}

var digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// validateSpec returns a plain-words problem with the spec, or "".
func validateSpec(s contract.Spec) string {
	switch {
	case s.ID == "":
		return "id is empty"
	case !digestPattern.MatchString(s.Artifact.Digest):
		return fmt.Sprintf("artifact digest %q is not sha256:<64 hex digits>", s.Artifact.Digest)
	case len(s.Witnesses) == 0:
		return "no witnesses"
	case s.Quorum.Threshold < 1:
		return "threshold must be at least 1"
	case s.Deadline.IsZero():
		return "deadline is missing"
	}
	return ""
}
