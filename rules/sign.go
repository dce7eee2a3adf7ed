package rules

import (
	"fmt"
	"strings"
	"unicode/utf8"

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
	if p := CommentProblem(req.Comment); p != "" {
		ps.add("comment", "%s", p)
	}
	if len(req.Via) > MaxVia {
		ps.add("via", "longer than %d characters", MaxVia)
	}
	return ps
}

// CommentProblem says what is wrong with a signature's comment, or "". A
// comment is bound into the signed statement by its digest, so it must be
// text that survives JSON exactly: invalid UTF-8 would be changed on the way
// and the statement would no longer match it.
func CommentProblem(comment string) string {
	switch {
	case len(comment) > MaxComment:
		return fmt.Sprintf("longer than %d characters", MaxComment)
	case !utf8.ValidString(comment):
		return "not valid text: it holds bytes that are not UTF-8 (often pasted from another program); type it again"
	}
	return ""
}
