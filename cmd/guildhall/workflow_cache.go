package main

import sdkworker "go.temporal.io/sdk/worker"

// setWorkflowCacheSize applies WORKFLOW_CACHE_SIZE: how many ceremonies stay
// loaded in memory between messages (SDK default 10,000). An evicted ceremony
// costs nothing until its next message, which replays its history first.
// BENCHMARKS.md ("Worker memory") measures RSS per open ceremony for several
// sizes. The setting is process-wide and must precede any worker; 0 keeps the
// SDK's default.
func setWorkflowCacheSize(n int) {
	if n > 0 {
		sdkworker.SetStickyWorkflowCacheSize(n)
	}
}
