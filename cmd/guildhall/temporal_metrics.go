package main

import (
	"fmt"
	"log/slog"

	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// temporalMetrics returns a handler that exports the Temporal SDK's metrics
// (task latencies, poll counts, activity failures, sticky cache size) through the
// default Prometheus registry, so they appear on the process's /metrics.
func temporalMetrics() (client.MetricsHandler, error) {
	exp, err := otelprom.New()
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter for Temporal metrics: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	return temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:                mp.Meter("temporal-sdk-go"),
		UseMonotonicCounters: true,
		OnError:              func(err error) { slog.Warn("temporal metric not recorded", "error", err) },
	}), nil
}
