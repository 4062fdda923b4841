#!/usr/bin/env bash
# Builds the vcsim fixture (govmomi's simulator + our ExportVm / NFC lease / Tools behaviour,
# local-cluster/simulators/vcsim, a Go module pinning govmomi) into the component cache outside the working
# tree, keyed by its sources, so every clone on this machine reuses it. Prints the binary's path.
# Also leaves the pinned govmomi module in the Go module cache (its ovf/fixtures/ corpus is read
# from there). A no-op apart from that check when the binary for these sources exists.
set -euo pipefail
cd "$(dirname "$0")/../simulators/vcsim"
cache="${VM_IMPORT_COMPONENT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vm-import/components}"
export GOTOOLCHAIN=local CGO_ENABLED=0

key=$( (go env GOVERSION; cat go.mod go.sum ./*.go) | sha256sum | cut -c1-16)
out="$cache/vcsim-$key"
go mod download github.com/vmware/govmomi
if [ ! -f "$out/.complete" ]; then
  printf '[setup] building vcsim-export (govmomi %s)\n' "$(go list -m -f '{{.Version}}' github.com/vmware/govmomi)" >&2
  start=$(date +%s)
  rm -rf "$out.tmp" && mkdir -p "$out.tmp/bin"
  go build -trimpath -o "$out.tmp/bin/vcsim-export" .
  touch "$out.tmp/.complete"
  rm -rf "$out" && mv "$out.tmp" "$out"
  printf '[setup] built vcsim-export in %ss\n' "$(( $(date +%s) - start ))" >&2
fi
printf '%s\n' "$out/bin/vcsim-export"
