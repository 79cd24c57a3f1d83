"""The local control plane for tests, plus a few typed helpers around it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.kube.client import KubeClient, resource_path
from tests.support.waiting import eventually

KUBECTL_CANDIDATES = (
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.33",
    "/usr/lib/google-cloud-sdk/bin/kubectl",
)


def kubectl_binary() -> str:
    """kubectl within the skew policy (±1 minor) of our v1.34 server."""
    for candidate in KUBECTL_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("kubectl")
    if not found:
        raise FileNotFoundError("kubectl not found")
    return found


def kubectl(
    cluster: LocalCluster, *args: str, input_text: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kubectl_binary(), "--kubeconfig", str(cluster.kubeconfig), *args],
        input=input_text,
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


async def wait_job_condition(
    kube: KubeClient, namespace: str, name: str, timeout: float = 90.0
) -> dict[str, Any]:
    """Wait until the Job has a terminal condition; return the Job."""
    path = resource_path("batch/v1", "jobs", namespace, name)

    async def terminal() -> dict[str, Any] | None:
        job = await kube.get(path)
        for condition in (job.get("status") or {}).get("conditions") or []:
            if condition["type"] in ("Complete", "Failed") and condition["status"] == "True":
                return job
        return None

    return await eventually(terminal, timeout=timeout, what=f"job {namespace}/{name} to finish")


def terminal_condition(job: dict[str, Any]) -> dict[str, Any]:
    for condition in job["status"]["conditions"]:
        if condition["type"] in ("Complete", "Failed") and condition["status"] == "True":
            return dict(condition)
    raise AssertionError("job not finished")


async def job_pods(kube: KubeClient, namespace: str, job_name: str) -> list[dict[str, Any]]:
    return await kube.list(
        resource_path("v1", "pods", namespace),
        labelSelector=f"batch.kubernetes.io/job-name={job_name}",
    )


def log_dir(cluster: LocalCluster) -> Path:
    return cluster.workdir / "node" / "logs"
