package main

import (
	"context"
	"testing"

	"github.com/guildhouse/guildhall/contract"
)

// TestLazyTemporal: a tool that never needs Temporal never dials it; one that
// does dials once, and an unreachable Temporal is the answer to every use.
func TestLazyTemporal(t *testing.T) {
	useEnv(t, "TEMPORAL_ADDRESS", "127.0.0.1:1", "LOG_FORMAT", "text")
	unused := &lazyTemporal{identity: "guildhall-test"}
	unused.Close()
	if unused.c != nil || unused.err != nil {
		t.Fatalf("an unused client dialled: %+v", unused)
	}
	l := &lazyTemporal{identity: "guildhall-test"}
	defer l.Close()
	ctx := context.Background()
	signalErr := l.Signal(ctx, "web/x", contract.SignalDirectoryChanged, contract.DirectoryChanged{WitnessID: "bob"})
	startErr := l.StartIntune(ctx, contract.IntuneJob{CeremonyID: "web/x", Decision: contract.IntuneRevoked})
	if signalErr == nil || startErr != signalErr {
		t.Fatalf("unreachable Temporal: signal %v, start %v; want the one dial error twice", signalErr, startErr)
	}
}
