"""The operator as a real process (`devskyy-operator`), as a Deployment would run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from devskyy_devcluster.launcher import LocalCluster
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "deploy" / "crds" / "devskyytasks.devskyy.io.yaml"
WORKFLOW_CRD_FILE = REPO / "deploy" / "crds" / "devskyyworkflows.devskyy.io.yaml"


@dataclass
class ComponentProcess:
    """A control component (operator, bridge) running as its own process."""

    process: subprocess.Popen[bytes]
    health_port: int
    metrics_port: int
    log_path: Path

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)

    def terminate(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def alive(self) -> bool:
        """/healthz answers: the process is up (an operator may still stand by)."""
        try:
            url = f"http://127.0.0.1:{self.health_port}/healthz"
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def ready(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.health_port}/readyz"
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.TransportError:
            return False


class OperatorProcess(ComponentProcess):
    """`devskyy-operator`; ready() is True while it holds the leader Lease."""


def operator_env(
    cluster: LocalCluster, namespace: str, redis_url: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    return {
        **os.environ,
        **(cluster.images.operator_env() if cluster.images is not None else {}),
        "DEVSKYY_KUBECONFIG": str(cluster.kubeconfig),
        "DEVSKYY_NAMESPACE": namespace,
        "DEVSKYY_REDIS_URL": redis_url,
        "DEVSKYY_RESYNC_SECONDS": "2",
        "PYTHONUNBUFFERED": "1",
        **(extra or {}),
    }


def start_operator(
    cluster: LocalCluster,
    namespace: str,
    redis_url: str,
    log_dir: Path,
    extra: Mapping[str, str] | None = None,
) -> OperatorProcess:
    health, metrics = free_port(), free_port()
    env = operator_env(
        cluster, namespace, redis_url,
        {"DEVSKYY_HEALTH_PORT": str(health), "DEVSKYY_METRICS_PORT": str(metrics), **(extra or {})},
    )  # fmt: skip
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"operator-{health}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "devskyy_operator.controller.main"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return OperatorProcess(process, health, metrics, log_path)


@contextmanager
def running_operator(
    cluster: LocalCluster,
    namespace: str,
    redis_url: str,
    log_dir: Path,
    extra: Mapping[str, str] | None = None,
) -> Iterator[OperatorProcess]:
    operator = start_operator(cluster, namespace, redis_url, log_dir, extra)
    try:
        yield operator
    finally:
        operator.kill()
