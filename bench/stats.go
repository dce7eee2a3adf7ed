package bench

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// Sample is the measured outcome of one phase: every operation's latency, the
// errors, and the wall time from the first request to the last answer.
type Sample struct {
	Name      string
	Latencies []time.Duration
	Errors    int
	// ErrorKinds counts errors by a short description, for the report.
	ErrorKinds map[string]int
	Wall       time.Duration
}

// OK is the number of successful operations.
func (s Sample) OK() int { return len(s.Latencies) }

// Throughput is successful operations per second of wall time.
func (s Sample) Throughput() float64 {
	if s.Wall <= 0 {
		return 0
	}
	return float64(len(s.Latencies)) / s.Wall.Seconds()
}

// Quantile returns the q-quantile (0..1) of the latencies by the nearest-rank
// method: the smallest latency at or above which a fraction q of the samples lie.
func (s Sample) Quantile(q float64) time.Duration {
	return quantile(s.Latencies, q)
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := int(q*float64(len(sorted))+0.999999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// Spread is min/median/max of a set of values.
type Spread struct{ Min, Median, Max float64 }

func spreadOf(vs []float64) Spread {
	if len(vs) == 0 {
		return Spread{}
	}
	s := slices.Clone(vs)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Min: s[0], Median: med, Max: s[len(s)-1]}
}

func (s Spread) String() string { return fmt.Sprintf("%.2f / %.2f / %.2f", s.Min, s.Median, s.Max) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
