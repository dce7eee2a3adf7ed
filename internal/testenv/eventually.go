package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, and fails t with what it waited for once
// timeout has passed. It polls often at first and then every 200 ms, so a fast
// condition is seen at once and a slow one costs little.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(wait)
		wait = min(2*wait, 200*time.Millisecond)
	}
}
