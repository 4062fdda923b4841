#!/usr/bin/env bash
# Idempotent setup for `npm start`, `npm test` and `npm run bench` on a fresh machine that has
# only Node 20, npm and Debian's archive. Quick when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Go (1.26, preinstalled on the machine) builds the Go modules of the fixtures and components.
command -v go >/dev/null || { log "Go 1.26 is needed on PATH (see README: prerequisites)"; exit 1; }

# 1. Debian packages: qemu-img for image work; bubblewrap sandboxes the local cluster's pods and
#    setpriv (util-linux) gives every process it starts a parent-death signal; e2fsprogs and mount
#    (losetup) make its sized volumes; iproute2 and nsenter (util-linux) make its pod network, nftables is what kube-proxy programs Services with.
missing=()
command -v ip >/dev/null || missing+=(iproute2)
# tc (iproute2) shapes, and nft drops, the chaos runner's link to the simulated sources.
command -v tc >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
command -v nsenter >/dev/null || missing+=(util-linux)
command -v qemu-img >/dev/null || missing+=(qemu-utils)
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v setpriv >/dev/null || missing+=(util-linux)
command -v openssl >/dev/null || missing+=(openssl)
# The local cluster's volumes: ext4 file systems (e2fsprogs) in loop-mounted images (mount).
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
command -v losetup >/dev/null || missing+=(mount)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. npm packages (Node 22 comes from the `node` package into node_modules/.bin).
stamp=node_modules/.setup-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x node_modules/.bin/node ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# 3. The real components (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy,
#    kubectl, CoreDNS, Knative Eventing, the node agent's container init),
#    each built from its pinned Go module into a cache outside the working tree: minutes the first
#    time on a machine, a cache hit afterwards.
bash local-cluster/components/build.sh >/dev/null

# 4. Test fixtures built from sources in this repository (each step is a no-op when up to date).
for step in local-cluster/setup.d/*.sh; do
  [ -e "$step" ] || continue
  bash "$step" >/dev/null
done

# 5. The build the vm-import image ships (dist/, `npm run build`): redone when a source changed.
node_modules/.bin/node --import tsx build.ts --if-stale
