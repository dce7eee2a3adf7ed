package intune

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":        0,
		"7":       7 * time.Second,
		" 120 ":   2 * time.Minute,
		"0":       0,
		"-3":      0,
		"soon":    0,
		"9999999": 24 * time.Hour,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	}
	for in, want := range cases {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestBackoffGrowsWithinBounds(t *testing.T) {
	base, ceiling := time.Second, 30*time.Second
	for n := 1; n <= 8; n++ {
		d := base << (n - 1)
		d = min(d, ceiling)
		for range 50 {
			got := backoff(n, base, ceiling)
			if got < d/2 || got > d {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, got, d/2, d)
			}
		}
	}
}

func TestRetryStatus(t *testing.T) {
	for code, want := range map[int]bool{429: true, 500: true, 502: true, 503: true, 504: true, 400: false, 401: false, 403: false, 404: false, 409: false} {
		if retryStatus(code) != want {
			t.Errorf("retryStatus(%d) = %v", code, !want)
		}
	}
}
