#!/usr/bin/env bash
# Copy the generated CRDs into the Helm chart, byte for byte (the chart renders
# it from files/ behind crds.install; tests/chart checks the copy is identical).
#   hack/sync-crds.sh           # copy
#   hack/sync-crds.sh --check   # exit 1 when the copy is stale
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
status=0
for name in devskyytasks.devskyy.io.yaml devskyyschedules.devskyy.io.yaml devskyyworkflows.devskyy.io.yaml; do
  src="$root/deploy/crds/$name"
  dst="$root/deploy/helm/devskyy-task-operator/files/crds/$name"
  if [[ "${1:-}" == --check ]]; then
    cmp -s "$src" "$dst" || { echo "stale: $dst (run hack/sync-crds.sh)" >&2; status=1; }
    continue
  fi
  install -m 0644 "$src" "$dst"
  echo "synced $dst"
done
exit "$status"
