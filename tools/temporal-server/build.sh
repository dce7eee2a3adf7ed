#!/usr/bin/env bash
# Builds the Temporal server (go.temporal.io/server, version pinned in go.mod) with
# its SQL schema tool, one binary, for the tests that run Guildhall on a
# production-shaped Temporal (PostgreSQL persistence, SQL visibility), and prints
# the directory holding it.
#
# The binary is cached outside the clone in
#   ${XDG_CACHE_HOME:-~/.cache}/guildhall/temporal-server-<first 12 hex of sha256(go.sum)>/
# so fresh clones and CI runners reuse it; changing the pinned version changes go.sum
# and therefore the directory. internal/temporalserver computes the same path.
#
# Usage: tools/temporal-server/build.sh        (prints the directory on stdout; logs on stderr)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

hash="$(sha256sum go.sum | cut -c1-12)"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/guildhall"
out="$cache_root/temporal-server-$hash"

if [[ -x "$out/temporal-server" ]]; then
	echo "$out"
	exit 0
fi

mkdir -p "$cache_root"
# One builder at a time: parallel test packages or CI jobs may all call this script.
exec 9>"$cache_root/temporal-server.lock"
flock 9
if [[ -x "$out/temporal-server" ]]; then
	echo "$out"
	exit 0
fi

version="$(go list -m -f '{{.Version}}' go.temporal.io/server)"
tmp="$(mktemp -d "$cache_root/.temporal-server-build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "building temporal-server $version (server + SQL tool) into $out (several minutes on 2 cores the first time)" >&2
start=$SECONDS
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/temporal-server" .
echo "built in $((SECONDS - start)) s" >&2
"$tmp/temporal-server" version >&2

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "$out"
