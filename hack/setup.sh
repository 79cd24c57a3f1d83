#!/usr/bin/env bash
# Install everything the tests and the local stack need, idempotently:
# Debian packages, the Python environment (.venv), and the control-plane
# binaries built from Go modules into the cache outside the repository.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The node of the local cluster: containerd + runc (Debian's: the kubelet's CRI
# client supports containerd 1.6, no build needed), the CNI reference plugins
# and iptables (the pod network and kube-proxy), iproute2 (the node's network
# namespace and veth). Images: mmdebstrap bootstraps the local Python base from
# Debian packages, buildah builds the Dockerfiles without a daemon; gcc and the
# static libc build the pause binary.
apt_packages=(
  redis-server redis-tools postgresql util-linux iproute2 ca-certificates
  containerd runc containernetworking-plugins iptables
  mmdebstrap buildah gcc libc6-dev
)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "apt: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The distribution's redis-server and postgresql services are not ours: tests and
# the dev stack start their own (PostgreSQL from /usr/lib/postgresql/<version>/bin).
if command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now redis-server postgresql >/dev/null 2>&1 || true
fi

python=${PYTHON:-python3.11}
command -v uv >/dev/null 2>&1 || { log "pip: installing uv"; "$python" -m pip install -q uv; }
if [[ ! -x .venv/bin/python ]]; then
  log "python: creating .venv"
  uv venv -q --python "$python" .venv
fi
log "python: syncing dependencies"
uv pip install -q --python .venv/bin/python -e '.[dev]' -e hack/devcluster

log "binaries: ensuring the control plane (cold: ~20 min on 2 cores; warm: seconds)"
bash hack/cluster/build.sh >/dev/null
log "ready"
