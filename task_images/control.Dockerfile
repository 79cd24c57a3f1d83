# syntax=docker/dockerfile:1
# Control image: devskyy-operator, devskyy-bridge, devskyy-api (one venv, three
# console scripts; the chart picks one with `command`).
#
# Base: Python 3.11 on Debian bookworm, pinned by tag and digest. The digest
# could not be pulled from this build host (no registry access); it is the
# multi-arch index digest cited by several public projects for this tag.
# Refresh with: docker buildx imagetools inspect python:3.11.14-slim-bookworm
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# The dependencies (and the build backend) first, in a layer of their own, read
# from pyproject.toml: a code change then rebuilds only the project, in seconds.
COPY pyproject.toml ./
RUN python -c 'import tomllib; t = tomllib.load(open("pyproject.toml", "rb")); p = t["project"]; \
print("\n".join(t["build-system"]["requires"] + p["dependencies"] + p["optional-dependencies"]["control"]))' \
    >/tmp/requirements.txt \
 && /opt/venv/bin/pip install --no-compile -r /tmp/requirements.txt
# Only what the wheel needs; .dockerignore keeps tests, caches and .venv out.
COPY README.md ./
COPY operator/ operator/
COPY agents/ agents/
# The project alone into its own prefix: the runtime stage copies it as a small
# layer of its own on top of the unchanged dependency layer.
RUN /opt/venv/bin/pip install --no-compile --no-deps --no-build-isolation --prefix /opt/project ".[control]"

FROM ${PYTHON_IMAGE}
# Bytecode is never written (read-only root); HOME and TMPDIR point at the
# emptyDir the chart mounts on /tmp.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/project /opt/venv
# Numeric uid/gid so runAsNonRoot can be verified by the kubelet.
USER 10001:10001
# Kubernetes probes (/healthz) do the health checking.
HEALTHCHECK NONE
ENTRYPOINT ["/opt/venv/bin/devskyy-operator"]
