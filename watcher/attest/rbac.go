package attest

import "github.com/guildhouse/guildhall/watcher/crd"

// Rule is one RBAC permission the writer needs (same shape as watcher.Rule).
type Rule struct {
	Group    string
	Resource string
	Verbs    []string
}

// Rules are exactly the API calls Writer makes; the guildhall-attestation-writer
// ClusterRole in deploy/k8s/60-watcher-rbac.yaml is checked against them.
var Rules = []Rule{
	// The owner reference needs the Ceremony's UID.
	{Group: crd.Group, Resource: "ceremonies", Verbs: []string{"get"}},
	// Get, then create or update (optimistic concurrency, retried on conflict);
	// the watcher records refusals there too.
	{Group: crd.Group, Resource: "ceremonyattestations", Verbs: []string{"create", "get", "update"}},
	// One Event per outcome, created under a name derived from it (never patched).
	{Group: "", Resource: "events", Verbs: []string{"create"}},
}
