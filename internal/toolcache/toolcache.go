// Package toolcache locates the binaries that tools/<name>/build.sh builds from
// the Go module proxy into a cache outside the clone (kube-apiserver and etcd,
// the Temporal server). Each tool has its own go.mod; its cache directory is
// keyed by a hash of its go.sum, so a version bump builds into a new directory
// and fresh clones reuse what is there. The build scripts derive the same path.
package toolcache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ModulePath is the module whose root the helpers look for.
const ModulePath = "github.com/guildhouse/guildhall"

// Root is ${XDG_CACHE_HOME:-~/.cache}/guildhall, where the build scripts and
// the Makefile (the temporal CLI, axe-core) put what they fetch or build.
func Root() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the home directory for the tool cache: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "guildhall"), nil
}

// Dir is Root()/<tool>-<first 12 hex of sha256(tools/<tool>/go.sum)>, exactly
// as tools/<tool>/build.sh computes it.
func Dir(tool string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	sum, err := os.ReadFile(filepath.Join(root, "tools", tool, "go.sum"))
	if err != nil {
		return "", fmt.Errorf("read tools/%s/go.sum: %w", tool, err)
	}
	h := sha256.Sum256(sum)
	cache, err := Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, tool+"-"+hex.EncodeToString(h[:])[:12]), nil
}

// Executable checks that path is an executable file; otherwise the error names
// where it was looked for and the command that builds it.
func Executable(path, where, build string) error {
	if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s not found in %s (%s): build it with `%s`", filepath.Base(path), where, filepath.Dir(path), build)
	}
	return nil
}

// ModuleRoot walks up from the working directory (a test's package directory,
// or the repository for a command run there) to the directory whose go.mod
// declares ModulePath.
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
