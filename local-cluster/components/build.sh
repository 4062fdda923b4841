#!/usr/bin/env bash
# Builds the real components the local cluster runs (each from its own small Go module in this
# folder, pinned in its go.mod) into a cache outside the working tree, keyed by the module's
# go.mod + go.sum, so every clone on this machine reuses the binaries.
# Usage: build.sh [component...]   (default: every folder with a go.mod); prints the bin dir of each.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${VM_IMPORT_COMPONENT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vm-import/components}"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

components=("$@")
if [ ${#components[@]} -eq 0 ]; then
  for d in "$here"/*/; do [ -f "$d/go.mod" ] && components+=("$(basename "$d")"); done
fi

# Kubernetes binaries learn their release from link-time stamps (as hack/lib/version.sh sets
# them); a plain build reports v0.0.0-master to `kubectl version` and to clients.
ldflags_for() {
  local v
  v=$(awk '$1 == "k8s.io/kubernetes" { print $2 } $1 == "require" && $2 == "k8s.io/kubernetes" { print $3 }' "$1/go.mod")
  [ -n "$v" ] || return 0
  local major=${v#v}; major=${major%%.*}
  local minor=${v#v"$major".}; minor=${minor%%.*}
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    printf -- "-X '%s.gitVersion=%s' -X '%s.gitMajor=%s' -X '%s.gitMinor=%s' -X '%s.gitTreeState=clean' -X '%s.buildDate=1970-01-01T00:00:00Z' " \
      "$pkg" "$v" "$pkg" "$major" "$pkg" "$minor" "$pkg" "$pkg"
  done
}

for name in "${components[@]}"; do
  mod="$here/$name"
  ldflags="-s -w $(ldflags_for "$mod")"
  # a component with Go code of its own (a tool directive naming its own package) keys on it too
  key=$( (cat "$mod/go.mod" $(find "$mod" -maxdepth 1 -name go.sum) $(find "$mod" -maxdepth 1 -name '*.go' | sort); echo "$ldflags") | sha256sum | cut -c1-16)
  out="$cache/$name-$key"
  if [ -f "$out/.complete" ]; then
    printf '%s\t%s\n' "$name" "$out/bin"
    continue
  fi
  # One build per component at a time (tests and clones call this concurrently); the others wait.
  mkdir -p "$cache"
  exec 9>"$cache/$name.lock"
  flock 9
  if [ -f "$out/.complete" ]; then
    exec 9>&-
    printf '%s\t%s\n' "$name" "$out/bin"
    continue
  fi
  printf '[components] building %s (first time on this machine; this takes minutes)\n' "$name" >&2
  start=$(date +%s)
  rm -rf "$out.tmp" && mkdir -p "$out.tmp/bin"
  ( while sleep 30; do printf '[components] still building %s (%ss)\n' "$name" "$(( $(date +%s) - start ))" >&2; done ) &
  ticker=$!
  trap 'kill $ticker 2>/dev/null' EXIT
  ( cd "$mod" && go mod download && go build -trimpath -ldflags="$ldflags" -o "$out.tmp/bin/" tool )
  kill $ticker 2>/dev/null; trap - EXIT
  # go names etcd's server binary after its module path (server/v3): give it its usual name.
  if [ -f "$out.tmp/bin/server" ]; then mv "$out.tmp/bin/server" "$out.tmp/bin/etcd"; fi
  touch "$out.tmp/.complete"
  rm -rf "$out" && mv "$out.tmp" "$out"
  exec 9>&-
  printf '[components] built %s in %ss\n' "$name" "$(( $(date +%s) - start ))" >&2
  printf '%s\t%s\n' "$name" "$out/bin"
done
