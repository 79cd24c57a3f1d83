"""Where the control-plane binaries are, building them with hack/cluster/build.sh if needed."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = REPO_ROOT / "hack" / "cluster" / "build.sh"
REQUIRED = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    helm: Path | None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("DEVSKYY_CACHE") or Path(base) / "devskyy")


def versions() -> dict[str, str]:
    """The pinned versions (hack/cluster/versions.env)."""
    result: dict[str, str] = {}
    for line in (BUILD_SCRIPT.parent / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            result[key] = value
    return result


def _lookup(search: list[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for name in (*REQUIRED, "helm"):
        for directory in search:
            candidate = directory / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                found[name] = candidate
                break
    return found


def ensure_binaries(build: bool = True) -> Binaries:
    """Return the cached binaries; run the build script when any is missing."""
    v = versions()
    cache = cache_dir()
    search = [
        cache / f"kubernetes-{v['K8S_VERSION']}" / "bin",
        cache / f"etcd-{v['ETCD_VERSION']}" / "bin",
        cache / f"helm-{v['HELM_VERSION']}" / "bin",
    ]
    found = _lookup(search)
    if any(name not in found for name in REQUIRED):
        if not build:
            missing = [n for n in REQUIRED if n not in found]
            raise FileNotFoundError(f"missing binaries {missing}; run {BUILD_SCRIPT}")
        subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.DEVNULL)
        found = _lookup(search)
    helm = found.get("helm") or (Path(p) if (p := shutil.which("helm")) else None)
    return Binaries(
        etcd=found["etcd"],
        kube_apiserver=found["kube-apiserver"],
        kube_controller_manager=found["kube-controller-manager"],
        kube_scheduler=found["kube-scheduler"],
        helm=helm,
    )
