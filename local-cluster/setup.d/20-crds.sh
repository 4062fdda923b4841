#!/usr/bin/env bash
# Writes the third-party CRDs the local cluster serves (Harvester, Knative Serving, Multus, Longhorn,
# KubeVirt, CDI), read from those projects' own Go modules by local-cluster/components/crds, into
# the component cache outside the working tree. Prints the directory. A no-op when they are there.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local

bin=$(bash local-cluster/components/build.sh crds | cut -f2)
out="$(dirname "$bin")/third-party-crds"
if [ ! -f "$out/.complete" ]; then
  tmp=$(mktemp -d "$out.XXXXXX")
  "$bin/crds" -out "$tmp"
  touch "$tmp/.complete"
  rm -rf "$out" && mv "$tmp" "$out"
fi
printf '%s\n' "$out"
