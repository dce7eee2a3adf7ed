#!/usr/bin/env bash
# Builds kube-apiserver and etcd for the watcher's integration tests from the Go
# module proxy (no Docker, no release tarballs) and prints the directory holding them.
#
# The binaries are cached outside the clone in
#   ${XDG_CACHE_HOME:-~/.cache}/guildhall/k8s-testbin-<first 12 hex of sha256(go.sum)>/
# so fresh clones and CI runners reuse them; changing a pinned version changes go.sum
# and therefore the directory. internal/kubetest computes the same path.
#
# Usage: tools/k8s-testbin/build.sh        (prints the directory on stdout; logs on stderr)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

hash="$(sha256sum go.sum | cut -c1-12)"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/guildhall"
out="$cache_root/k8s-testbin-$hash"

if [[ -x "$out/kube-apiserver" && -x "$out/etcd" ]]; then
	echo "$out"
	exit 0
fi

mkdir -p "$cache_root"
# One builder at a time: parallel test packages or CI jobs may all call this script.
exec 9>"$cache_root/k8s-testbin.lock"
flock 9
if [[ -x "$out/kube-apiserver" && -x "$out/etcd" ]]; then
	echo "$out"
	exit 0
fi

# Versions come from go.mod so there is one place to bump them.
kube_version="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
etcd_version="$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
kube_major="$(echo "${kube_version#v}" | cut -d. -f1)"
kube_minor="$(echo "${kube_version#v}" | cut -d. -f2)"
# The module's publication time stands in for the build date: reproducible, and close
# to what the upstream release reports.
build_date="$(go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)"
build_date="${build_date:-1970-01-01T00:00:00Z}"

tmp="$(mktemp -d "$cache_root/.k8s-testbin-build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	kube_ldflags+=" -X $pkg.gitVersion=$kube_version"
	kube_ldflags+=" -X $pkg.gitMajor=$kube_major"
	kube_ldflags+=" -X $pkg.gitMinor=$kube_minor"
	kube_ldflags+=" -X $pkg.gitCommit=module-proxy-$kube_version"
	kube_ldflags+=" -X $pkg.gitTreeState=clean"
	kube_ldflags+=" -X $pkg.buildDate=$build_date"
done
etcd_ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-proxy-$etcd_version"

export CGO_ENABLED=0
# Sequential builds: on a small shared machine two linkers of this size at once
# mostly thrash.
echo "building etcd $etcd_version into $out" >&2
go build -trimpath -ldflags "$etcd_ldflags" -o "$tmp/etcd" ./etcd
echo "building kube-apiserver $kube_version into $out (10-20 min on 2 cores the first time)" >&2
go build -trimpath -ldflags "$kube_ldflags" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver

"$tmp/kube-apiserver" --version >&2
"$tmp/etcd" --version >&2

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "$out"
