package bench

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/guildhouse/guildhall/contract"
)

// Attempt is the outcome of signing with retries, as a careful client does it:
// the same body (same idempotency key, same signed statement) is sent again after
// any answer that does not say the request itself is wrong.
type Attempt struct {
	Ceremony string
	Witness  string
	OK       bool
	Tries    int
	// Errors are the answers of the failed tries, oldest first.
	Errors []error
	Took   time.Duration
}

// Retryable reports whether a client should send the same request again: a
// transport error, a timeout, 429, or a 5xx (the server could not confirm).
func Retryable(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status == http.StatusTooManyRequests || he.Status >= 500
	}
	return err != nil
}

// SignWithRetry signs c as w, retrying retryable failures with backoff until
// deadline. Each try is bounded by perTry.
func (a *APIClient) SignWithRetry(ctx context.Context, c Ceremony, w Witness, key string, perTry time.Duration, deadline time.Time) Attempt {
	body := NewSignBody(c.Spec, w, key, contract.Approve)
	at := Attempt{Ceremony: c.Spec.ID, Witness: w.ID}
	start := time.Now()
	backoff := 250 * time.Millisecond
	for {
		at.Tries++
		tctx, cancel := context.WithTimeout(ctx, perTry)
		err := a.Sign(tctx, c.Spec.ID, w.Token, body)
		cancel()
		if err == nil {
			at.OK = true
			break
		}
		at.Errors = append(at.Errors, err)
		if !Retryable(err) || time.Now().Add(backoff).After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	at.Took = time.Since(start)
	return at
}
