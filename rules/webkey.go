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
	switch {
	case strings.TrimSpace(reason) == "":
		return errors.New("a reason is required: say why the key is retired (it goes on the custody chain)")
	case len(reason) > MaxReason:
		return fmt.Errorf("the reason is longer than %d characters", MaxReason)
	}
	return nil
}
