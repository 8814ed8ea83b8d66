#!/usr/bin/env bash
# Builds a real Consul agent from the Go module proxy and links it to bin/consul.
#
# Debian ships no Consul package, so integration tests build the agent from
# source. The build takes minutes on a 2-core machine, so the binary is cached
# outside the clone, keyed by version: a fresh clone on the same machine links
# it in seconds. Overrides, in order: $CONSUL_BIN, then a `consul` on PATH of
# the pinned version; otherwise the cache; otherwise build.
set -euo pipefail

version="${CONSUL_VERSION:-1.22.0}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/bin/consul"
cache_dir="${GRANARY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/granary}/consul-$version"
cached="$cache_dir/consul"

mkdir -p "$root/bin"

link() {
  ln -sf "$1" "$out"
  echo "consul: using $1 ($("$out" version | head -n1))"
}

if [ -n "${CONSUL_BIN:-}" ]; then
  [ -x "$CONSUL_BIN" ] || { echo "consul: CONSUL_BIN=$CONSUL_BIN is not an executable file" >&2; exit 1; }
  link "$CONSUL_BIN"; exit 0
fi
if [ -x "$cached" ]; then link "$cached"; exit 0; fi
if p="$(command -v consul 2>/dev/null)" && "$p" version 2>/dev/null | grep -q "v$version"; then
  link "$p"; exit 0
fi

# Several clones (or worktrees) on one machine share the cache: one builds
# while the others wait for it, instead of racing minutes-long builds onto
# the same file.
mkdir -p "$cache_dir"
exec 9>"$cache_dir/.lock"
if ! flock -n 9; then
  echo "consul: another build of v$version is under way; waiting for it" >&2
  flock 9
fi
if [ -x "$cached" ]; then link "$cached"; exit 0; fi

echo "consul: building v$version from the Go module proxy (a few minutes; cached in $cache_dir afterwards)" >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > go.mod <<MOD
module granary.local/consulbuild

go 1.25
MOD
export GOPROXY="${GOPROXY:-https://proxy.golang.org}" GONOSUMDB=github.com/hashicorp/consul GOFLAGS=-mod=mod CGO_ENABLED=0
go get "github.com/hashicorp/consul@v$version" >&2
go build -o "$cache_dir/consul.tmp.$$" github.com/hashicorp/consul
mv "$cache_dir/consul.tmp.$$" "$cached"
link "$cached"
