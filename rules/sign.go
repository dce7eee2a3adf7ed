package rules

import (
	"strings"

	"github.com/guildhouse/guildhall/contract"
)

// CheckSignRequest lists the problems with the fields of a sign request (the
// `sign` update, the `witness-signature` signal and the web's forms and API):
// an idempotency key and a witness id within their limits, a decision, and a
// comment and channel name within theirs. Whether the witness may sign is MaySign.
func CheckSignRequest(req contract.SignRequest) Problems {
	var ps Problems
	switch {
	case req.IdempotencyKey == "":
		ps.add("idempotencyKey", "is required")
	case len(req.IdempotencyKey) > MaxIdempotencyKey:
		ps.add("idempotencyKey", "longer than %d characters", MaxIdempotencyKey)
	}
	switch id := strings.TrimSpace(req.WitnessID); {
	case id == "":
		ps.add("witnessId", "is required")
	case len(id) > MaxPersonID:
		ps.add("witnessId", "longer than %d characters", MaxPersonID)
	}
	if _, err := ParseDecision(string(req.Decision)); err != nil {
		ps.add("decision", "%s", err)
	}
	if len(req.Comment) > MaxComment {
		ps.add("comment", "longer than %d characters", MaxComment)
	}
	if len(req.Via) > MaxVia {
		ps.add("via", "longer than %d characters", MaxVia)
	}
	return ps
}
