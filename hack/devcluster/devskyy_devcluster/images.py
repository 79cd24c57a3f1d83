"""The images the local cluster runs, built with buildah and kept in a registry.

- `python-base`: Debian bookworm's Python 3.11 bootstrapped with mmdebstrap
  (hack/images/base.sh), the local stand-in for the public `python:3.11-slim`
  that cannot be pulled here; also the shell image of the cluster tests.
- `control`, `task-api`, `task-ml`: the Dockerfiles of task_images/ built as
  they are, with only PYTHON_IMAGE set to the local base.
- `pause`: the pod sandbox, the pause binary built from the k8s module.

Tags are content hashes of the build inputs (Dockerfile, the files of the
build context that .dockerignore lets through, the base's reference), so an
image is rebuilt only when an input changed, and buildah's layer cache makes
that rebuild short. Images are pushed into a registry storage directory in the
cache (CNCF distribution, filesystem driver) that every node's registry
serves: the kubelet pulls them as from any registry.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from devskyy_devcluster.binaries import REPO_ROOT, Binaries, cache_dir, ensure_binaries
from devskyy_devcluster.node_config import REGISTRY_HOST, registry_config
from devskyy_devcluster.ports import free_port
from devskyy_devcluster.processes import spawn, stop

BASE_SCRIPT = REPO_ROOT / "hack" / "images" / "base.sh"
DOCKERFILES = REPO_ROOT / "task_images"
NAMESPACE = "devskyy"


@dataclass(frozen=True)
class ImageSet:
    """Fully qualified references, as the node's containerd pulls them."""

    pause: str
    base: str
    control: str
    task_api: str
    task_ml: str

    def task_images(self) -> dict[str, str]:
        """The operator's per-type images (DEVSKYY_IMAGES__<TYPE>), from the task images."""
        api, ml = self.task_api, self.task_ml
        return {
            "generate_3d": api,
            "fashn_tryon": api,
            "marketing_campaign": api,
            "diagnostic": api,
            "ml_training": ml,
            "ml_prediction": ml,
        }

    def operator_env(self) -> dict[str, str]:
        """The operator's settings for these images (DEVSKYY_IMAGES__<TYPE>)."""
        return {f"DEVSKYY_IMAGES__{kind.upper()}": ref for kind, ref in self.task_images().items()}


def registry_storage() -> Path:
    """The registry's filesystem storage, shared by every cluster of this machine."""
    return cache_dir() / "registry"


# ------------------------------------------------------------------ content tags


def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regex."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


@dataclass(frozen=True)
class Rule:
    excludes: bool
    text: str
    pattern: re.Pattern[str]


def dockerignore_rules(text: str) -> list[Rule]:
    """The rules in file order; the last matching rule wins."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = os.path.normpath(line.removeprefix("!").strip().strip("/"))
        rules.append(Rule(not negated, line, _pattern(line)))
    return rules


def _excluded(path: str, rules: Sequence[Rule]) -> bool:
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for rule in rules:
        if any(rule.pattern.match(p) for p in prefixes):
            excluded = rule.excludes
    return excluded


def _prunable(directory: str, rules: Sequence[Rule]) -> bool:
    """An excluded directory that no exception rule can reach into (e.g. .venv)."""
    return _excluded(directory, rules) and not any(
        not r.excludes and (r.text.startswith(directory + "/") or "*" in r.text) for r in rules
    )


def context_files(context: Path) -> list[Path]:
    """The files of a build context after .dockerignore, as the builder sends them."""
    ignore = context / ".dockerignore"
    rules = dockerignore_rules(ignore.read_text()) if ignore.exists() else []
    found = []
    for directory, dirs, files in os.walk(context):
        here = Path(directory).relative_to(context).as_posix()
        dirs[:] = sorted(
            d for d in dirs if not _prunable(d if here == "." else f"{here}/{d}", rules)
        )
        for name in sorted(files):
            path = Path(directory) / name
            if not _excluded(path.relative_to(context).as_posix(), rules):
                found.append(path)
    return found


def content_tag(inputs: Sequence[bytes | str], files: Sequence[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for item in inputs:
        digest.update(item.encode() if isinstance(item, str) else item)
        digest.update(b"\0")
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


# ------------------------------------------------------------------ registry


def _in_storage(repository: str, tag: str) -> bool:
    link = (
        registry_storage() / "docker" / "registry" / "v2" / "repositories" / repository
        / "_manifests" / "tags" / tag / "current" / "link"
    )  # fmt: skip
    return link.is_file()


@contextlib.contextmanager
def _push_registry(bins: Binaries, work: Path) -> Iterator[str]:
    """A registry on loopback over the shared storage, for the pushes."""
    port = free_port()
    config = registry_config(registry_storage())
    config["http"]["addr"] = f"127.0.0.1:{port}"
    path = work / "registry.yaml"
    path.write_text(yaml.safe_dump(config))
    process = spawn([bins.registry, "serve", path], work / "registry.log")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log = (work / "registry.log").read_text(errors="replace")
                raise RuntimeError(f"the push registry did not start:\n{log[-2000:]}")
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        stop(process)


# ------------------------------------------------------------------ builds


def _buildah(*args: str | Path) -> str:
    result = subprocess.run(
        ["buildah", *map(str, args)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"buildah {' '.join(map(str, args))} failed:\n{result.stderr[-4000:]}")
    return result.stdout.strip()


def _log(message: str) -> None:
    print(f"[images {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _base() -> str:
    return subprocess.run(
        ["bash", str(BASE_SCRIPT)], capture_output=True, text=True, check=True
    ).stdout.strip()


def _forget_older(repository: str, keep: str) -> None:
    """Untag the previous builds of `repository` in buildah's store (the registry
    keeps them); the layers the current build shares stay, so does the cache."""
    listed = _buildah("images", "--format", "{{.Name}}:{{.Tag}}")
    old = [
        r for r in listed.split() if r.startswith(f"{repository}:") and r != f"{repository}:{keep}"
    ]
    if old:
        subprocess.run(["buildah", "rmi", *old], capture_output=True, check=False)


def _build_pause(bins: Binaries, local: str) -> None:
    ctr = _buildah("from", "--quiet", "scratch")
    try:
        _buildah("copy", "--quiet", "--chmod", "0755", ctr, bins.pause, "/pause")
        _buildah("config", "--entrypoint", '["/pause"]', "--user", "65535:65535", ctr)
        _buildah("commit", "--quiet", "--format", "docker", ctr, local)
    finally:
        subprocess.run(["buildah", "rm", ctr], capture_output=True, check=False)


def _build_dockerfile(dockerfile: Path, base: str, local: str) -> None:
    _buildah(
        "bud", "--quiet", "--isolation", "chroot", "--layers", "--format", "docker",
        "--build-arg", f"PYTHON_IMAGE={base}", "-f", dockerfile, "-t", local, REPO_ROOT,
    )  # fmt: skip


def ensure_images(bins: Binaries | None = None) -> ImageSet:
    """Build and push what is missing; return the references. Seconds when cached."""
    bins = bins or ensure_binaries()
    cache_dir().mkdir(parents=True, exist_ok=True)
    with (cache_dir() / "images.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time on this machine
        return _ensure_images(bins)


def _ensure_images(bins: Binaries) -> ImageSet:
    base_local = _base()
    pause_version = (bins.pause.parent / "pause.version").read_text().strip()
    pause_tag = f"{pause_version}-{content_tag([bins.pause.read_bytes()], [], REPO_ROOT)[:8]}"
    files = context_files(REPO_ROOT)
    plan: dict[str, tuple[str, str | None]] = {  # repository -> (tag, Dockerfile)
        "pause": (pause_tag, None),
        "python-base": (base_local.rsplit(":", 1)[1], None),
    }
    for name in ("control", "task-api", "task-ml"):
        dockerfile = DOCKERFILES / f"{name}.Dockerfile"
        tag = content_tag([dockerfile.read_bytes(), base_local], files, REPO_ROOT)
        plan[name] = (tag, str(dockerfile))
    missing = {n: t for n, t in plan.items() if not _in_storage(f"{NAMESPACE}/{n}", t[0])}
    if missing:
        with (
            tempfile.TemporaryDirectory(prefix="devskyy-push-") as work,
            _push_registry(bins, Path(work)) as registry,
        ):
            for name, (tag, source) in missing.items():
                start = time.monotonic()
                local = f"localhost/{NAMESPACE}/{name}:{tag}"
                if name == "python-base":
                    local = base_local
                elif name == "pause":
                    _build_pause(bins, local)
                elif source is not None:
                    _build_dockerfile(Path(source), base_local, local)
                _buildah(
                    "push", "--quiet", "--tls-verify=false", "--disable-compression", local,
                    f"docker://{registry}/{NAMESPACE}/{name}:{tag}",
                )  # fmt: skip
                _log(f"{name}:{tag} built and pushed in {time.monotonic() - start:.1f}s")
                if name != "python-base":
                    _forget_older(f"localhost/{NAMESPACE}/{name}", tag)
    refs = {n: f"{REGISTRY_HOST}/{NAMESPACE}/{n}:{t}" for n, (t, _) in plan.items()}
    return ImageSet(
        pause=refs["pause"],
        base=refs["python-base"],
        control=refs["control"],
        task_api=refs["task-api"],
        task_ml=refs["task-ml"],
    )


def push(local: str, bins: Binaries | None = None) -> str:
    """Push an image of buildah's store (named `<registry host>/<path>:<tag>`, as
    skaffold names what it builds) into the registry storage; return the path."""
    path = local.split("/", 1)[1]
    with (
        (cache_dir() / "images.lock").open("w") as lock,
        tempfile.TemporaryDirectory(prefix="devskyy-push-") as work,
    ):
        fcntl.flock(lock, fcntl.LOCK_EX)
        with _push_registry(bins or ensure_binaries(), Path(work)) as registry:
            _buildah("push", "--quiet", "--tls-verify=false", "--disable-compression",
                     local, f"docker://{registry}/{path}")  # fmt: skip
    return path


def main() -> None:
    """`python -m devskyy_devcluster.images [push IMAGE]`.

    Without arguments: build what is missing, print the references. `push
    IMAGE`: push one image of buildah's store (skaffold's custom builder).
    """
    if sys.argv[1:2] == ["push"] and len(sys.argv) == 3:
        print(push(sys.argv[2]))
        return
    images = ensure_images()
    for field, ref in vars(images).items():
        print(f"{field}={ref}")


if __name__ == "__main__":
    main()
