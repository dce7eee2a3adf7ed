package ceremonyclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/guildhouse/guildhall/contract"
)

// Signaler sends a contract signal to a ceremony; *Client is one.
type Signaler interface {
	Signal(ctx context.Context, ceremonyID, name string, payload any) error
}

// DirectoryChange is the directory-changed message for a person's new standing,
// changed at `at` (when they were deactivated, or reactivated). One change
// always carries the same idempotency key, so telling a ceremony about it
// again changes nothing.
func DirectoryChange(witnessID string, deactivated bool, at time.Time, by string) contract.DirectoryChanged {
	what := "reactivated"
	if deactivated {
		what = "deactivated"
	}
	return contract.DirectoryChanged{IdempotencyKey: fmt.Sprintf("directory/%s/%s/%d", witnessID, what, at.UnixNano()),
		WitnessID: witnessID, Deactivated: deactivated, By: by}
}

// TellDirectoryChanged sends msg to each ceremony. It tries every one and
// returns those it reached and those it could not, with the first error
// (Temporal unreachable, say). A ceremony whose workflow no longer exists
// needs no word and is in neither list.
func TellDirectoryChanged(ctx context.Context, s Signaler, ceremonyIDs []string, msg contract.DirectoryChanged) (told, missed []string, err error) {
	told, missed = []string{}, []string{}
	var first error
	for _, id := range ceremonyIDs {
		err = s.Signal(ctx, id, contract.SignalDirectoryChanged, msg)
		switch {
		case err == nil:
			told = append(told, id)
		case errors.Is(err, ErrNotFound):
		default:
			missed = append(missed, id)
			if first == nil {
				first = err
			}
		}
	}
	if len(missed) > 0 {
		return told, missed, fmt.Errorf("%d open ceremonies not told (%s): %w", len(missed), strings.Join(missed, ", "), first)
	}
	return told, missed, nil
}
