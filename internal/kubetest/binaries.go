// Package kubetest starts a real etcd and kube-apiserver for integration tests, with
// RBAC authorization on and Guildhall's CRDs installed, and returns an admin
// *rest.Config. One server per test package (TestMain) keeps start-up at ~4 s.
//
// The binaries are built from the Go module proxy by tools/k8s-testbin/build.sh;
// nothing here downloads anything. A missing binary fails the test with the command
// that builds it: these tests are never skipped.
package kubetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ModulePath is the module whose root the harness looks for.
const ModulePath = "github.com/guildhouse/guildhall"

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
	dir, err := CacheDir()
	if err != nil {
		return Binaries{}, err
	}
	return binariesIn(dir, "the k8s-testbin cache")
}

func binariesIn(dir, where string) (Binaries, error) {
	b := Binaries{Dir: dir, APIServer: filepath.Join(dir, "kube-apiserver"), Etcd: filepath.Join(dir, "etcd")}
	for _, p := range []string{b.APIServer, b.Etcd} {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return b, fmt.Errorf("%s not found in %s (%s): build it with `%s`", filepath.Base(p), where, dir, BuildCommand)
		}
	}
	return b, nil
}

// CacheDir is the directory build.sh writes the binaries to, derived exactly as the
// script derives it so both agree without talking to each other.
func CacheDir() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	sum, err := os.ReadFile(filepath.Join(root, "tools", "k8s-testbin", "go.sum"))
	if err != nil {
		return "", fmt.Errorf("read tools/k8s-testbin/go.sum: %w", err)
	}
	h := sha256.Sum256(sum)
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find home directory for the k8s-testbin cache: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "guildhall", "k8s-testbin-"+hex.EncodeToString(h[:])[:12]), nil
}

// ModuleRoot walks up from the working directory (a test's package directory) to
// the directory whose go.mod declares ModulePath.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && declaresModule(string(b), ModulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("module root of " + ModulePath + " not found above the working directory")
		}
		dir = parent
	}
}

func declaresModule(gomod, path string) bool {
	for _, line := range strings.Split(gomod, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return f[1] == path
		}
	}
	return false
}
