#!/usr/bin/env bash
# Build the local cluster from source into a cache outside the repository,
# keyed by version: the control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler), the node (kubelet, kube-proxy, the
# pause binary from the same k8s.io/kubernetes module), cluster DNS (CoreDNS),
# the image registry (CNCF distribution), helm and promtool. Idempotent:
# returns at once when every binary is present.
#
#   hack/cluster/build.sh            # build what is missing, print the bin dir
#   hack/cluster/build.sh skaffold   # skaffold only (not needed by the tests)
#   DEVSKYY_CACHE=/path hack/cluster/build.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/cluster/versions.env
source "$here/versions.env"
cache="${DEVSKYY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/devskyy}"
k8s_bin="$cache/kubernetes-$K8S_VERSION/bin"
etcd_bin="$cache/etcd-$ETCD_VERSION/bin"
helm_bin="$cache/helm-$HELM_VERSION/bin"
coredns_bin="$cache/coredns-$COREDNS_VERSION/bin"
registry_bin="$cache/distribution-$DISTRIBUTION_VERSION/bin"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

build_into() {  # dir module-dir package output ldflags [tags]
  local dir=$1 moddir=$2 pkg=$3 out=$4 ldflags=$5 tags=${6:-}
  if [[ -x "$dir/$out" ]]; then
    log "$out: cached in $dir"
    return
  fi
  mkdir -p "$dir"
  log "$out: building $pkg (cold builds take minutes; progress below)"
  local start=$SECONDS
  (cd "$moddir" && go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$dir/.$out.tmp" "$pkg")
  mv "$dir/.$out.tmp" "$dir/$out"
  log "$out: built in $((SECONDS - start))s"
}

k8s_ldflags() {
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local p=k8s.io/component-base/version
  local q=k8s.io/client-go/pkg/version
  local flags="-s -w"
  for v in $p $q; do
    flags+=" -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor"
    flags+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$flags"
}

if [[ "${1:-}" == skaffold ]]; then
  # skaffold.yaml's builder and deployer, for `skaffold run -p devcluster`.
  bin="$cache/skaffold-$SKAFFOLD_VERSION/bin"
  build_into "$bin" "$here/skaffold" github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold \
    skaffold "-s -w -X github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/version.version=$SKAFFOLD_VERSION" \
    "timetzdata osusergo netgo static_build release"
  echo "$bin"
  exit 0
fi

flags="$(k8s_ldflags)"
build_into "$etcd_bin" "$here/etcd" go.etcd.io/etcd/server/v3 etcd "-s -w"
for cmd in kube-apiserver kube-scheduler kube-controller-manager kubelet kube-proxy; do
  build_into "$k8s_bin" "$here/k8s" "k8s.io/kubernetes/cmd/$cmd" "$cmd" "$flags"
done
# The pod sandbox's pause process, from build/pause of the same module (its
# Makefile's flags; TAG is the pause version this Kubernetes release ships).
if [[ ! -x "$k8s_bin/pause" ]]; then
  src="$(cd "$here/k8s" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')/build/pause"
  tag=$(sed -n 's/^TAG ?= //p' "$src/Makefile")
  gcc -Os -Wall -Werror -static -DVERSION="v$tag-$K8S_VERSION" -o "$k8s_bin/.pause.tmp" "$src/linux/pause.c"
  echo "$tag" >"$k8s_bin/pause.version"
  mv "$k8s_bin/.pause.tmp" "$k8s_bin/pause"
  log "pause: built v$tag from $src"
else
  log "pause: cached in $k8s_bin"
fi
build_into "$coredns_bin" "$here/coredns" . coredns "-s -w"
build_into "$registry_bin" "$here/registry" . registry \
  "-s -w -X github.com/distribution/distribution/v3/version.version=$DISTRIBUTION_VERSION"
if [[ "${DEVSKYY_SKIP_HELM:-0}" != 1 ]]; then
  if [[ ! -x "$helm_bin/helm" ]]; then
    log "helm: go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    mkdir -p "$helm_bin"
    GOBIN="$helm_bin" go install -trimpath \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
      "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  else
    log "helm: cached in $helm_bin"
  fi
fi
promtool_bin="$cache/promtool-$PROMTOOL_VERSION/bin"
if [[ ! -x "$promtool_bin/promtool" ]]; then
  log "promtool: go install github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION"
  mkdir -p "$promtool_bin"
  start=$SECONDS
  # remove_all_sd: no service-discovery SDKs (rule checks need none; ~3x faster build)
  GOBIN="$promtool_bin" go install -trimpath -tags remove_all_sd -ldflags "-s -w" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION"
  log "promtool: built in $((SECONDS - start))s"
else
  log "promtool: cached in $promtool_bin"
fi
echo "$k8s_bin:$etcd_bin:$coredns_bin:$registry_bin:$helm_bin:$promtool_bin"
