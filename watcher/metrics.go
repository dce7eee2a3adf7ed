package watcher

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the watcher's Prometheus metrics, on their own registry so two
// watchers in one test process do not collide.
type Metrics struct {
	Registry *prometheus.Registry
	// EventsSeen counts informer notifications by type: add, update, resync, delete.
	EventsSeen *prometheus.CounterVec
	// MessagesSent counts messages Temporal accepted, by kind: start, spec-changed,
	// substrate-decision, cancel.
	MessagesSent *prometheus.CounterVec
	// Errors counts failures by stage: lookup, start, signal, record (an Event or
	// the attestation's spec.refused), sweep, sync.
	Errors *prometheus.CounterVec
	// Refused counts Ceremony generations not forwarded (Warning Event and the
	// attestation's spec.refused, no message), once each.
	Refused prometheus.Counter
	// Leader is 1 while this replica holds the lease.
	Leader prometheus.Gauge
	// Latency is the time from the first informer event of a change to each
	// message it caused being accepted by Temporal.
	Latency prometheus.Histogram
}

// NewMetrics creates the metrics; queueDepth reports the work queue's length.
func NewMetrics(queueDepth func() float64) *Metrics {
	const ns, sub = "guildhall", "watcher"
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		EventsSeen: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "events_total", Help: "Ceremony informer events by type."}, []string{"type"}),
		MessagesSent: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "messages_sent_total", Help: "Messages delivered to ceremony workflows by kind."}, []string{"kind"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "errors_total", Help: "Failures by stage."}, []string{"stage"}),
		Refused: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "specs_refused_total", Help: "Ceremony generations not forwarded: invalid, arrived after the ceremony ended, or workflow id in use."}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "leader", Help: "1 while this replica holds the leader lease."}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "event_to_message_seconds", Help: "From informer event to message accepted by Temporal.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
	}
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
		Name: "queue_depth", Help: "Ceremony keys waiting in the work queue."}, queueDepth)
	m.Registry.MustRegister(m.EventsSeen, m.MessagesSent, m.Errors, m.Refused, m.Leader, m.Latency, depth,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Pre-create the label values so dashboards see zeros rather than gaps.
	for _, k := range []string{KindStart, KindSpec, KindDecision, KindCancel} {
		m.MessagesSent.WithLabelValues(k)
	}
	for _, t := range []string{"add", "update", "resync", "delete"} {
		m.EventsSeen.WithLabelValues(t)
	}
	return m
}
