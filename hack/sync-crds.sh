#!/usr/bin/env bash
# Copy the generated CRD into the Helm chart, byte for byte (the chart renders
# it from files/ behind crds.install; tests/chart checks the copy is identical).
#   hack/sync-crds.sh           # copy
#   hack/sync-crds.sh --check   # exit 1 when the copy is stale
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
crds="$root/deploy/crds"
files="$root/deploy/helm/devskyy-task-operator/files/crds"
names=(devskyytasks.devskyy.io.yaml devskyyworkflows.devskyy.io.yaml)
if [[ "${1:-}" == --check ]]; then
  for name in "${names[@]}"; do
    cmp -s "$crds/$name" "$files/$name" || { echo "stale: $files/$name (run hack/sync-crds.sh)" >&2; exit 1; }
  done
  exit 0
fi
for name in "${names[@]}"; do
  install -m 0644 "$crds/$name" "$files/$name"
  echo "synced $files/$name"
done
