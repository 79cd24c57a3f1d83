#!/usr/bin/env bash
# Copy the generated CRD into the Helm chart, byte for byte (the chart renders
# it from files/ behind crds.install; tests/chart checks the copy is identical).
#   hack/sync-crds.sh           # copy
#   hack/sync-crds.sh --check   # exit 1 when the copy is stale
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/deploy/crds/devskyytasks.devskyy.io.yaml"
dst="$root/deploy/helm/devskyy-task-operator/files/crds/devskyytasks.devskyy.io.yaml"
if [[ "${1:-}" == --check ]]; then
  cmp -s "$src" "$dst" || { echo "stale: $dst (run hack/sync-crds.sh)" >&2; exit 1; }
  exit 0
fi
install -m 0644 "$src" "$dst"
echo "synced $dst"
