"""The whole system on one machine: cluster, Redis, PostgreSQL, storage, operator,
bridge, API and history writer.

Everything is a real process started here and stopped with the stack: the
cluster with its node (launcher; task pods run our images there), redis-server,
PostgreSQL (Debian's server, as a non-root user), and the control components,
run on this host exactly as their Deployments would run them (same console
scripts, same settings, the schema migrated by `devskyy-history migrate` as the
chart's hook Job does), talking to the apiserver through the kubeconfig. (The
Helm install test runs operator, bridge and API as containers instead.)
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from devskyy_devcluster.launcher import LocalCluster, free_port
from devskyy_devcluster.postgres import PostgresServer
from devskyy_devcluster.processes import spawn, stop
from devskyy_operator.kube.client import ApiError, KubeClient, resource_path

REPO = Path(__file__).resolve().parents[3]
CRD_FILE = REPO / "deploy" / "crds" / "devskyytasks.devskyy.io.yaml"
SCHEDULE_CRD_FILE = REPO / "deploy" / "crds" / "devskyyschedules.devskyy.io.yaml"
NAMESPACE = "devskyy"
CLAIMS = {
    "devskyy-datasets": "datasets",
    "devskyy-models": "models",
    "devskyy-artifacts": "artifacts",
}


def kubectl_path() -> str:
    for candidate in ("/usr/lib/google-cloud-sdk/bin/kubectl.1.33", shutil.which("kubectl") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("kubectl not found")


@dataclass
class LocalStack:
    workdir: Path
    task_env: dict[str, str] = field(default_factory=dict)  # non-secret task settings
    task_secrets: dict[str, str] = field(default_factory=dict)
    cluster: LocalCluster | None = None
    postgres: PostgresServer | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    redis_port: int = 0
    api_port: int = 0
    api_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    def kubectl(self, *args: str, input_text: str | None = None) -> str:
        assert self.cluster is not None
        return subprocess.run(
            [kubectl_path(), "--kubeconfig", str(self.cluster.kubeconfig), *args],
            input=input_text, capture_output=True, text=True, check=True, timeout=120,
        ).stdout  # fmt: skip

    # ----------------------------------------------------------------- start

    def start(self) -> LocalStack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.cluster = LocalCluster(self.workdir / "cluster").start()
            self._start_redis()
            self.postgres = PostgresServer(self.logs / "postgres").init()
            self._migrate()
            self.kubectl("apply", "--server-side", "-f", str(CRD_FILE))
            self.kubectl("wait", "--for=condition=Established", "crd/devskyytasks.devskyy.io")
            self.kubectl("apply", "--server-side", "-f", str(SCHEDULE_CRD_FILE))
            self.kubectl("wait", "--for=condition=Established", "crd/devskyyschedules.devskyy.io")
            asyncio.run(self._prepare_namespace())
            self._start_components()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_redis(self) -> None:
        self.redis_port = free_port()
        data = self.workdir / "redis"
        data.mkdir(exist_ok=True)
        self.processes["redis"] = spawn(
            [shutil.which("redis-server") or "/usr/bin/redis-server",
             "--port", str(self.redis_port),
             "--bind", "127.0.0.1", "--dir", str(data), "--appendonly", "yes", "--save", ""],
            self.logs / "redis.log",
        )  # fmt: skip
        client = redis.Redis(port=self.redis_port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def _migrate(self) -> None:
        """The history schema and the stream's consumer group, before any task runs."""
        bin_dir = Path(sys.executable).parent
        with (self.logs / "migrate.log").open("ab") as log:
            subprocess.run(
                [bin_dir / "devskyy-history", "migrate"], env=self.component_env(0, 0),
                stdout=log, stderr=subprocess.STDOUT, check=True, timeout=120,
            )  # fmt: skip

    async def _prepare_namespace(self) -> None:
        """Namespace (Pod Security restricted), task config and secret, storage claims."""
        assert self.cluster is not None
        async with KubeClient.from_env(str(self.cluster.kubeconfig)) as kube:
            ns = {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": NAMESPACE,
                    "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
                },
            }
            await kube.create_or_get(resource_path("v1", "namespaces"), ns)
            config = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "devskyy-task-config"},
                "data": self.task_env,
            }
            await kube.create_or_get(resource_path("v1", "configmaps", NAMESPACE), config)
            secret = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "devskyy-task-secrets"},
                "stringData": self.task_secrets,
            }
            await kube.create_or_get(resource_path("v1", "secrets", NAMESPACE), secret)
            for claim, folder in CLAIMS.items():
                await self._bind_claim(kube, claim, self.volume_dir(folder))

    def volume_dir(self, folder: str) -> Path:
        """A host directory backing a PV; world-writable like a fresh volume."""
        directory = self.workdir / "volumes" / folder
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o777)
        return directory

    async def _bind_claim(self, kube: KubeClient, claim: str, directory: Path) -> None:
        """A hostPath PV pre-bound to a PVC: what a local provisioner would do."""
        pv: dict[str, Any] = {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"{NAMESPACE}-{claim}"},
            "spec": {
                "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany"],
                "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                "hostPath": {"path": str(directory), "type": "Directory"},
                "claimRef": {"namespace": NAMESPACE, "name": claim},
            },
        }  # fmt: skip
        pvc = {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim},
            "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "",
                     "volumeName": pv["metadata"]["name"],
                     "resources": {"requests": {"storage": "10Gi"}}},
        }  # fmt: skip
        await kube.create_or_get(resource_path("v1", "persistentvolumes"), pv)
        await kube.create_or_get(resource_path("v1", "persistentvolumeclaims", NAMESPACE), pvc)

    def component_env(self, health: int, metrics: int) -> dict[str, str]:
        assert self.cluster is not None
        assert self.postgres is not None
        import hashlib

        digest = hashlib.sha256(self.api_token.encode()).hexdigest()
        images = self.cluster.images.operator_env() if self.cluster.images else {}
        return {
            **os.environ,
            **images,
            "PYTHONUNBUFFERED": "1",
            "DEVSKYY_KUBECONFIG": str(self.cluster.kubeconfig),
            "DEVSKYY_NAMESPACE": NAMESPACE,
            "REDIS_URL": self.redis_url,  # the seed's names
            "DATABASE_URL": self.postgres.url,
            "DEVSKYY_HEALTH_PORT": str(health),
            "DEVSKYY_METRICS_PORT": str(metrics),
            "DEVSKYY_API_PORT": str(self.api_port),
            "DEVSKYY_API_HOST": "127.0.0.1",
            "DEVSKYY_API_TOKENS": f"demo:{digest}:admin",
            "DEVSKYY_TASK_CONFIG_MAP": "devskyy-task-config",
            "DEVSKYY_TASK_SECRET_NAME": "devskyy-task-secrets",
            "DEVSKYY_DATASETS_CLAIM": "devskyy-datasets",
            "DEVSKYY_MODELS_CLAIM": "devskyy-models",
            "DEVSKYY_ARTIFACTS_CLAIM": "devskyy-artifacts",
            "DEVSKYY_RESYNC_SECONDS": "3",
        }

    def _start_components(self) -> None:
        self.api_port = free_port()
        bin_dir = Path(sys.executable).parent
        for name in ("operator", "bridge", "api", "history"):
            health, metrics = free_port(), free_port()
            self.ports[f"{name}-metrics"] = metrics if name != "api" else self.api_port
            self.ports[f"{name}-health"] = health if name != "api" else self.api_port
            self.processes[name] = spawn(
                [bin_dir / f"devskyy-{name}"], self.logs / f"{name}.log",
                env=self.component_env(health, metrics),
            )  # fmt: skip
        self._await_http(f"{self.api_url}/readyz", "api")
        self._await_http(f"http://127.0.0.1:{self.ports['operator-health']}/readyz", "operator")

    def _await_http(self, url: str, name: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{name} not ready at {url}")

    # ----------------------------------------------------------------- stop

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            stop(self.processes.pop(name))
        if self.postgres is not None:
            self.postgres.destroy()
        if self.cluster is not None:
            self.cluster.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def task_phases(stack: LocalStack) -> list[dict[str, Any]]:
    """name, type, phase, attempts, reason of every task in the stack's namespace."""
    assert stack.cluster is not None
    async with KubeClient.from_env(str(stack.cluster.kubeconfig)) as kube:
        try:
            items = await kube.list(resource_path("devskyy.io/v1alpha1", "devskyytasks", NAMESPACE))
        except ApiError:
            return []
    return [
        {
            "name": t["metadata"]["name"],
            "type": t["spec"]["type"],
            "phase": (t.get("status") or {}).get("phase") or "New",
            "attempts": (t.get("status") or {}).get("attempts", 0),
            "reason": (t.get("status") or {}).get("reason") or "",
            "message": (t.get("status") or {}).get("message") or "",
        }
        for t in items
    ]
