// Package kubetest starts a real etcd and kube-apiserver for integration tests, with
// RBAC authorization on and Guildhall's CRDs installed, and returns an admin
// *rest.Config. One server per test package (TestMain) keeps start-up at ~4 s.
//
// The binaries are built from the Go module proxy by tools/k8s-testbin/build.sh;
// nothing here downloads anything. A missing binary fails the test with the command
// that builds it: these tests are never skipped.
package kubetest

import (
	"os"
	"path/filepath"

	"github.com/guildhouse/guildhall/internal/toolcache"
)

// BuildCommand is what a person runs (from the repository root) to build the binaries.
const BuildCommand = "tools/k8s-testbin/build.sh   (or: make testbin)"

// Binaries locates kube-apiserver and etcd.
type Binaries struct {
	Dir       string
	APIServer string
	Etcd      string
}

// FindBinaries looks in $KUBEBUILDER_ASSETS (controller-runtime's convention, so the
// same directory serves envtest users) and then in the cache directory build.sh
// fills: ${XDG_CACHE_HOME:-~/.cache}/guildhall/k8s-testbin-<sha256(go.sum)[:12]>.
func FindBinaries() (Binaries, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return binariesIn(dir, "$KUBEBUILDER_ASSETS")
	}
	dir, err := toolcache.Dir("k8s-testbin")
	if err != nil {
		return Binaries{}, err
	}
	return binariesIn(dir, "the k8s-testbin cache")
}

func binariesIn(dir, where string) (Binaries, error) {
	b := Binaries{Dir: dir, APIServer: filepath.Join(dir, "kube-apiserver"), Etcd: filepath.Join(dir, "etcd")}
	for _, p := range []string{b.APIServer, b.Etcd} {
		if err := toolcache.Executable(p, where, BuildCommand); err != nil {
			return b, err
		}
	}
	return b, nil
}

// ModuleRoot is the repository root (toolcache.ModuleRoot).
func ModuleRoot() (string, error) { return toolcache.ModuleRoot() }
