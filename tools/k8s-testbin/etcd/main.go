// Command etcd is the etcd server built from go.etcd.io/etcd/server/v3 at the
// version pinned in this module's go.mod, for kube-apiserver tests.
//
// etcd's own main package lives in the repository root module (go.etcd.io/etcd/v3),
// which pulls a large tooling graph; calling etcdmain directly keeps the build to
// the server module that k8s.io/kubernetes already depends on.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
