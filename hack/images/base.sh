#!/usr/bin/env bash
# The local Python base image, bootstrapped from Debian packages with
# mmdebstrap (no container registry is reachable from our machines, so
# `FROM python:3.11-slim` cannot be pulled). Debian bookworm's python3 is 3.11,
# as in the Dockerfiles' default base. It also carries this host's extra CA
# certificates, because pip inside the builds reaches the package index
# through this host's TLS-intercepting egress: that is why this base is for
# local builds only and never the default of the Dockerfiles.
#
#   hack/images/base.sh     # build if missing; prints the image reference
#
# The tag is a hash of the inputs (this script, the suite, the extra CA
# files), so a rebuild happens only when one of them changes.
set -euo pipefail

suite=bookworm
# python-is-python3: the Dockerfiles call `python`, as the official image provides.
packages=python3,python3-venv,python-is-python3,ca-certificates
extra_cas=(/usr/local/share/ca-certificates/*.crt)
[[ -e "${extra_cas[0]}" ]] || extra_cas=()
name=localhost/devskyy/python-base

log() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

tag=$(cat "${BASH_SOURCE[0]}" "${extra_cas[@]}" | { cat; echo "$suite $packages"; } | sha256sum | cut -c1-16)
ref="$name:$tag"
if buildah inspect --type image "$ref" >/dev/null 2>&1; then
  echo "$ref"
  exit 0
fi

log "base: mmdebstrap $suite ($packages) -> $ref"
start=$SECONDS
work=$(mktemp -d /tmp/devskyy-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
hooks=()
if ((${#extra_cas[@]})); then
  hooks+=(--customize-hook="mkdir -p \"\$1/usr/local/share/ca-certificates\"")
  for crt in "${extra_cas[@]}"; do
    hooks+=(--customize-hook="copy-in $crt /usr/local/share/ca-certificates")
  done
  hooks+=(--customize-hook="chroot \"\$1\" update-ca-certificates")
fi
# No documentation, manual pages or translations: the slim images drop them too.
mmdebstrap --quiet --variant=minbase --include="$packages" --format=tar \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  "${hooks[@]}" "$suite" "$work/rootfs.tar"

ctr=$(buildah from --quiet scratch)
buildah add --quiet "$ctr" "$work/rootfs.tar" / >/dev/null
# The runtime adds no default PATH once an image sets any environment.
buildah config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 \
  --cmd /usr/bin/python3 \
  --label org.opencontainers.image.description="local Python base ($suite, mmdebstrap)" \
  "$ctr"
buildah commit --quiet --rm "$ctr" "$ref" >/dev/null
log "base: built in $((SECONDS - start))s"
echo "$ref"
