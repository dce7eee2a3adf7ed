package watcher

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"testing"
	"time"
)

// TestFailoverPromise: what the manifest and the runbook promise about a leader
// dying is what the default lease timing delivers (FailoverBound), rounded up to
// the second. BenchmarkLeaderFailover (watcher/integration) measures it.
func TestFailoverPromise(t *testing.T) {
	bound := FailoverBound(Config{})
	if bound != DefaultLeaseDuration+2*time.Duration(2.2*float64(DefaultRetryPeriod)) {
		t.Fatalf("FailoverBound = %s", bound)
	}
	want := fmt.Sprintf("at most %d s", int(math.Ceil(bound.Seconds())))
	for _, f := range []string{"../deploy/k8s/61-watcher.yaml", "../DEPLOY-RUNBOOK.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got := regexp.MustCompile(`at most \d+ s`).FindAllString(string(b), -1)
		if len(got) == 0 {
			t.Errorf("%s promises no failover time; want %q", f, want)
		}
		for _, g := range got {
			if g != want {
				t.Errorf("%s promises %q; the lease timing gives %s: %q", f, g, bound, want)
			}
		}
	}
}
