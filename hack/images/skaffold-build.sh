#!/usr/bin/env bash
# skaffold's custom builder for the local cluster (profile "devcluster" in
# skaffold.yaml): builds one Dockerfile of task_images/ with buildah on the
# local Python base (hack/images/base.sh), as the tests do, and pushes $IMAGE
# into the registry storage that the node's registry serves.
#   buildCommand: hack/images/skaffold-build.sh task_images/control.Dockerfile
# skaffold sets IMAGE (repository:tag), PUSH_IMAGE and BUILD_CONTEXT.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dockerfile=$1
base=$(bash "$root/hack/images/base.sh")
buildah bud --quiet --isolation chroot --layers --format docker \
  --build-arg "PYTHON_IMAGE=$base" -f "$root/$dockerfile" -t "$IMAGE" "${BUILD_CONTEXT:-$root}" >/dev/null
if [[ "${PUSH_IMAGE:-false}" == true ]]; then
  "$root/.venv/bin/python" -m devskyy_devcluster.images push "$IMAGE" >/dev/null
fi
