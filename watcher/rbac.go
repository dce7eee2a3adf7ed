package watcher

import "github.com/guildhouse/guildhall/watcher/crd"

// DefaultLeaseName is the Lease the watcher replicas compete for.
const DefaultLeaseName = "guildhall-watcher"

// Rule is one RBAC permission the code needs. The ClusterRole and Role in
// deploy/k8s/60-watcher-rbac.yaml are checked against these lists by test, and the
// integration tests run the watcher impersonating its ServiceAccount, so a verb the
// code uses but the manifest lacks fails a test rather than a deployment.
type Rule struct {
	// Namespaced rules go into a Role in the watcher's own namespace (the lease);
	// the others into the ClusterRole (Ceremonies live in any namespace).
	Namespaced    bool
	Group         string
	Resource      string
	Verbs         []string
	ResourceNames []string
}

// Rules are exactly the API calls the watcher makes.
var Rules = []Rule{
	// Dynamic informers list and watch Ceremonies; they never write them. Events
	// and refusals go through attest.Writer (attest.Rules).
	{Group: crd.Group, Resource: "ceremonies", Verbs: []string{"list", "watch"}},
	// LeaseLock creates the Lease once; create cannot be limited by name.
	{Namespaced: true, Group: "coordination.k8s.io", Resource: "leases", Verbs: []string{"create"}},
	// ... and reads and renews only its own Lease afterwards.
	{Namespaced: true, Group: "coordination.k8s.io", Resource: "leases", Verbs: []string{"get", "update"},
		ResourceNames: []string{DefaultLeaseName}},
}
