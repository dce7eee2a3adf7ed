package rules

import (
	"errors"
	"fmt"
	"strings"
)

// CheckWebKeyRetirement checks the reason an operator gives for retiring a web
// vouching key: required, and within MaxReason like a deactivation's. It goes on
// the custody chain and into the message a web replica still holding the old
// SESSION_SECRET stops with, so the next operator reads why.
func CheckWebKeyRetirement(reason string) error {
	if p := reasonProblem(reason, "say why the key is retired (it goes on the custody chain)"); p != "" {
		return errors.New("the reason " + p)
	}
	return nil
}

// reasonProblem is the one rule for the reason an admin or operator gives for
// an act that goes on the custody chain (a deactivation, a key's retirement):
// required, with why said as the refusal's hint, and at most MaxReason.
func reasonProblem(reason, why string) string {
	switch {
	case strings.TrimSpace(reason) == "":
		return "is required: " + why
	case len(reason) > MaxReason:
		return fmt.Sprintf("is longer than %d characters", MaxReason)
	}
	return ""
}
