"""CI checks of what ships to a cluster, run by `.ci/run` like every other test.

- hack/lint-deploy.sh: CRD copy, `helm lint --strict` + `helm template` of the
  defaults, every ci/*-values.yaml and examples/values-small.yaml, checkov on
  every render and hadolint on every Dockerfile (tests/chart renders the same
  scenarios but does not lint, scan or run hadolint, so nothing is repeated).
- checkov on the Jobs the operator builds (job_builder.build_job) from the
  settings the chart renders, next to the NetworkPolicies the chart puts around
  task pods.
- `kubectl apply --dry-run=server` of every render against the local control
  plane: the apiserver's schema validation, admission (Pod Security
  "restricted" enforced on the namespace) and, with crds.install=true, the CRD.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devskyy_devcluster.binaries import REPO_ROOT, cache_dir, ensure_binaries, versions
from devskyy_devcluster.launcher import LocalCluster
from tests.support.cluster import kubectl

CHART = REPO_ROOT / "deploy" / "helm" / "devskyy-task-operator"
LINT_SCRIPT = REPO_ROOT / "hack" / "lint-deploy.sh"
LINT_VENV = cache_dir() / "lint-venv"
KUBE_VERSION = versions()["K8S_VERSION"].removeprefix("v")
SCENARIOS: dict[str, Path | None] = {
    "defaults": None,
    **{
        p.name.removesuffix("-values.yaml"): p for p in sorted((CHART / "ci").glob("*-values.yaml"))
    },
    "small-cluster": REPO_ROOT / "examples" / "values-small.yaml",
    "ml-pool": REPO_ROOT / "examples" / "autoscaling" / "values-ml-pool.yaml",
    "tiers": REPO_ROOT / "examples" / "tiers" / "values-tiers.yaml",
}
# Kinds whose CRDs (Prometheus Operator) the local control plane does not serve;
# tests/chart checks their content, tests/observability their rules.
NOT_SERVED = {"ServiceMonitor", "PrometheusRule"}
# checkov findings on task Jobs that are accepted, each with its reason.
JOB_SKIPS = {
    "CKV_K8S_35": "Provider keys reach task pods as environment variables by reference "
    "(envFrom secretRef, DESIGN.md task contract); the agents read them from the "
    "environment and the value never enters the manifest.",
}
DIGEST = "sha256:" + "ab" * 32


def helm_template(*args: str, namespace: str = "devskyy") -> str:
    binary = ensure_binaries().helm
    assert binary is not None, "helm is missing: run hack/cluster/build.sh"
    result = subprocess.run(
        [str(binary), "template", "devskyy", str(CHART), "-n", namespace,
         "--kube-version", KUBE_VERSION, *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def checkov(directory: Path, *args: str) -> dict[str, Any]:
    """checkov's JSON report of `directory` with the repository's .checkov.yaml."""
    result = subprocess.run(
        [str(LINT_VENV / "bin" / "checkov"), "--config-file", ".checkov.yaml",
         "-d", str(directory), "-o", "json", *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr[-3000:]
    report = json.loads(result.stdout)
    runs = report if isinstance(report, list) else [report]
    assert len(runs) == 1, [r.get("check_type") for r in runs]
    return dict(runs[0])


@pytest.fixture(scope="module")
def lint_deploy() -> subprocess.CompletedProcess[str]:
    """hack/lint-deploy.sh, once: it also installs checkov and hadolint when missing."""
    return subprocess.run(
        ["bash", str(LINT_SCRIPT)], capture_output=True, text=True, timeout=840, check=False
    )


# Cold, the script installs checkov and hadolint (minutes); warm it takes ~45 s.
@pytest.mark.integration
@pytest.mark.timeout(900)
def test_lint_deploy_passes(lint_deploy: subprocess.CompletedProcess[str]) -> None:
    out = lint_deploy.stdout + lint_deploy.stderr
    assert lint_deploy.returncode == 0, out[-4000:]
    summary = re.search(
        r"checkov: (\d+) passed, (\d+) failed, (\d+) skipped, (\d+) parsing errors", out
    )
    assert summary, out[-2000:]
    passed, failed, _skipped, parse_errors = map(int, summary.groups())
    assert (failed, parse_errors) == (0, 0)
    assert passed > 1000
    dockerfiles = len(list((REPO_ROOT / "task_images").glob("*.Dockerfile")))
    assert f"hadolint: {dockerfiles} Dockerfiles clean" in out
    assert "all deploy checks passed" in out


@pytest.mark.integration
@pytest.mark.timeout(30)
def test_every_chart_skip_has_a_reason() -> None:
    """Each checkov.io/skip annotation of the chart names a check and says why."""
    text = "".join(p.read_text() for p in (CHART / "templates").glob("*"))
    skips = re.findall(r"checkov\.io/skip\d+: (.*)", text)
    assert skips
    for skip in skips:
        check, _, reason = skip.partition("=")
        assert re.fullmatch(r"CKV2?_K8S_\d+", check), skip
        assert len(reason.split()) >= 6, skip


_BUILD_JOBS = """
import sys, yaml
from devskyy_operator.job.builder import build_job
from devskyy_operator.settings import Settings
from devskyy_operator.crd.task_view import task_view_from_body
from tests.unit.factories import INPUTS, T0, body
settings = Settings()
jobs = []
for task_type in sorted(INPUTS):
    name = "t-" + task_type.replace("_", "-")
    doc = body(name, task_type)
    doc["metadata"]["namespace"] = settings.namespace
    jobs.append(build_job(task_view_from_body(doc), settings, T0))
yaml.safe_dump_all(jobs, sys.stdout)
"""


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_checkov_on_task_jobs(
    lint_deploy: subprocess.CompletedProcess[str], tmp_path: Path
) -> None:
    """Jobs built from the chart's settings (images by digest, as releases pin them)."""
    assert (LINT_VENV / "bin" / "checkov").exists(), lint_deploy.stderr[-2000:]
    digests = [f"taskTypes.{t}.image.digest={DIGEST}" for t in _task_types()]
    claims = [f"tasks.{c}Claim={c}" for c in ("datasets", "models", "artifacts")]
    render = list(yaml.safe_load_all(helm_template(*_sets(*digests, *claims))))
    settings_map = next(
        d
        for d in render
        if d and d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-settings")
    )
    env = {k: str(v) for k, v in settings_map["data"].items()}
    built = subprocess.run(
        [sys.executable, "-c", _BUILD_JOBS],
        env=env | {"PATH": "/usr/bin:/bin"}, cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    jobs = [d for d in yaml.safe_load_all(built.stdout) if d]
    assert len(jobs) == len(_task_types())
    assert all("@sha256:" in j["spec"]["template"]["spec"]["containers"][0]["image"] for j in jobs)
    (tmp_path / "jobs.yaml").write_text(built.stdout)
    # The task pods' NetworkPolicies come from the chart (CKV2_K8S_6 looks for them).
    policies = [d for d in render if d and d["kind"] == "NetworkPolicy"]
    (tmp_path / "policies.yaml").write_text(yaml.safe_dump_all(policies))

    report = checkov(tmp_path, "--skip-check", ",".join(JOB_SKIPS))
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert failed == []
    summary = report["summary"]
    assert summary["parsing_errors"] == 0
    # quiet mode reports counts only: dozens of passing checks per Job and its pod.
    assert summary["passed"] > 30 * len(jobs), summary
    assert summary["skipped"] == 0, summary


def _task_types() -> list[str]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    return sorted(values["taskTypes"])


def _sets(*items: str) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


# ------------------------------------------------------------------ server dry run


@pytest.fixture(scope="module")
def dry_run_namespaces(cluster: LocalCluster) -> Iterator[tuple[str, str]]:
    """Release and watch namespaces, enforcing Pod Security "restricted"."""
    names = (f"dry-{uuid.uuid4().hex[:8]}", f"dry-tasks-{uuid.uuid4().hex[:8]}")
    for name in names:
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            },
        }
        kubectl(cluster, "apply", "-f", "-", input_text=yaml.safe_dump(body))
    yield names
    for name in names:
        kubectl(cluster, "delete", "namespace", name, "--wait=false", check=False)


@pytest.mark.e2e
@pytest.mark.timeout(180)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_server_dry_run(
    cluster: LocalCluster,
    devskyy_crd: str,
    dry_run_namespaces: tuple[str, str],
    scenario: str,
) -> None:
    """Every render is accepted by the real apiserver and its admission, unchanged."""
    namespace, watch = dry_run_namespaces
    args: list[str] = []
    values = SCENARIOS[scenario]
    if values is not None:
        args += ["-f", str(values)]
        if (yaml.safe_load(values.read_text()) or {}).get("operator", {}).get("watchNamespace"):
            args += _sets(f"operator.watchNamespace={watch}")
    docs = [d for d in yaml.safe_load_all(helm_template(*args, namespace=namespace)) if d]
    served = [d for d in docs if d["kind"] not in NOT_SERVED]
    crds = [d for d in served if d["kind"] == "CustomResourceDefinition"]
    install_crds = (yaml.safe_load(values.read_text()) if values else {}) or {}
    # tasks, schedules, workflows
    assert len(crds) == 3 * int(install_crds.get("crds", {}).get("install", True))
    result = kubectl(
        cluster, "apply", "--server-side", "--dry-run=server", "-f", "-",
        input_text=yaml.safe_dump_all(served), check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    applied = result.stdout.splitlines()
    assert len(applied) == len(served), result.stdout
    assert all(line.endswith("(server dry run)") for line in applied), result.stdout
    # Pod Security "restricted" (warn + enforce on the namespace): not one warning.
    assert "PodSecurity" not in result.stderr, result.stderr
    assert "Warning" not in result.stderr, result.stderr
