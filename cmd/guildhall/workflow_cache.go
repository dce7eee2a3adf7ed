package main

import sdkworker "go.temporal.io/sdk/worker"

// WORKFLOW_CACHE_SIZE bounds the worker's sticky workflow cache: how many
// ceremonies stay loaded in memory between messages (SDK default 10,000). An
// evicted ceremony costs nothing until its next message, which replays its
// history first. BENCHMARKS.md ("Worker memory") measures RSS per open ceremony
// for several sizes. The setting is process-wide and must precede any worker,
// hence init: it applies to `worker` and `dev` alike.
func init() {
	if n := envInt("WORKFLOW_CACHE_SIZE", 0); n > 0 {
		sdkworker.SetStickyWorkflowCacheSize(n)
	}
}
