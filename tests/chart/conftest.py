"""Render the Helm chart with the real helm binary (built from its Go module).

Every scenario is rendered once per session; tests assert on the parsed YAML.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "devskyy-task-operator"
RELEASE = "devskyy"
NAMESPACE = "devskyy"

# Scenario name -> values file (None: the chart defaults). The small-cluster
# scenario is examples/values-small.yaml itself, so the example cannot rot.
SCENARIOS: dict[str, Path | None] = {
    "defaults": None,
    **{
        p.name.removesuffix("-values.yaml"): p for p in sorted((CHART / "ci").glob("*-values.yaml"))
    },
    "small-cluster": ROOT / "examples" / "values-small.yaml",
    "ml-pool": ROOT / "examples" / "autoscaling" / "values-ml-pool.yaml",
    "tiers": ROOT / "examples" / "tiers" / "values-tiers.yaml",
    "result-cache": ROOT / "examples" / "caching" / "values-result-cache.yaml",
}


def _versions() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (ROOT / "hack" / "cluster" / "versions.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    return {k.strip(): v.strip() for k, v in pairs}


VERSIONS = _versions()
KUBE_VERSION = VERSIONS["K8S_VERSION"].removeprefix("v")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("DEVSKYY_CACHE") or Path(base) / "devskyy")


@pytest.fixture(scope="session")
def helm() -> Path:
    """helm at the cache path hack/cluster/build.sh uses; built there when missing."""
    version = VERSIONS["HELM_VERSION"]
    binary = cache_dir() / f"helm-{version}" / "bin" / "helm"
    if not binary.exists():
        with tempfile.TemporaryDirectory() as tmp:
            env = os.environ | {"GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOBIN": tmp}
            subprocess.run(
                [
                    "go",
                    "install",
                    "-trimpath",
                    "-ldflags",
                    f"-s -w -X helm.sh/helm/v3/internal/version.version={version}",
                    f"helm.sh/helm/v3/cmd/helm@{version}",
                ],
                check=True,
                cwd=tmp,
                env=env,
            )
            binary.parent.mkdir(parents=True, exist_ok=True)
            Path(tmp, "helm").replace(binary)
    return binary


@dataclass(frozen=True)
class Render:
    """A rendered chart: raw text and the parsed documents."""

    text: str
    docs: list[dict[str, Any]]

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name_suffix: str) -> dict[str, Any]:
        found = [d for d in self.kind(kind) if d["metadata"]["name"].endswith(name_suffix)]
        assert len(found) == 1, f"{kind} *{name_suffix}: {[d['metadata']['name'] for d in found]}"
        return found[0]

    def pod_specs(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (d["metadata"]["name"], d["spec"]["template"]["spec"])
            for d in self.kind("Deployment") + self.kind("Job")
        ]


RenderFn = Callable[..., Render]


def helm_template(
    helm: Path, values: Path | None = None, set_values: Sequence[str] = (), *, hooks: bool = True
) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(helm),
        "template",
        RELEASE,
        str(CHART),
        "-n",
        NAMESPACE,
        "--kube-version",
        KUBE_VERSION,
    ]
    if values is not None:
        cmd += ["-f", str(values)]
    for item in set_values:
        cmd += ["--set", item]
    if not hooks:
        cmd.append("--no-hooks")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def parse(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.fixture(scope="session")
def render(helm: Path) -> RenderFn:
    """render(scenario) or render(set_values=[...]): a successful render."""
    cache: dict[tuple[str | None, tuple[str, ...]], Render] = {}

    def _render(scenario: str | None = "defaults", set_values: Sequence[str] = ()) -> Render:
        key = (scenario, tuple(set_values))
        if key not in cache:
            values = SCENARIOS[scenario] if scenario else None
            result = helm_template(helm, values, set_values)
            assert result.returncode == 0, result.stderr
            cache[key] = Render(result.stdout, parse(result.stdout))
        return cache[key]

    return _render


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> str:
    """Each scenario name in turn."""
    return str(request.param)
