#!/usr/bin/env bash
# Builds the vcsim fixture (govmomi simulator + ExportVm/NFC lease/Tools behaviour) from
# test/simulators/vcsim with Debian's govmomi sources, offline, in GOPATH mode. A no-op when the
# binary is newer than every source file.
set -euo pipefail
cd "$(dirname "$0")/../.."

src=test/simulators/vcsim
out=test/.fixtures/bin/vcsim-export
if [ -x "$out" ] && [ -z "$(find "$src" -name '*.go' -newer "$out" -print -quit)" ]; then
  exit 0
fi
printf '[setup] building %s\n' "$out" >&2
mkdir -p "$(dirname "$out")"
export GO111MODULE=off GOPATH=/usr/share/gocode
export GOCACHE="${GOCACHE:-$PWD/test/.fixtures/go-build-cache}"
(cd "$src" && go build -o "../../../$out.tmp" .)
mv "$out.tmp" "$out"
