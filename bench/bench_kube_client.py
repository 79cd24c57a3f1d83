"""Our httpx client (HTTP/2) against the official clients, on the hot path.

The bridge and the operator spend their API time creating DevSkyyTasks, reading
them and patching their status, many at once. Each side does the same N creates,
N GETs and N status patches with the same concurrency against the same API
server, in interleaved rounds; the figures are requests/s and the client's own
CPU per request (the API server shares the 2 cores, so client CPU is load it
takes from the server). Sides:

- ours: `KubeClient` (aiohttp, HTTP/1.1 pool, our own kubeconfig loader)
- httpx-h2: the transport `KubeClient` had before (httpx over HTTP/2, one
  multiplexed connection, up to 16 connections), the same requests
- aio: `kubernetes.aio` (the official package's asyncio client, aiohttp)
- sync: the official synchronous client (urllib3) in a thread pool

The project does not depend on the official package, so the bench installs it
(OFFICIAL_PACKAGE) into a throwaway venv with uv and runs its two sides there
(official_client_side.py), one process per round, timed inside that process
as ours is timed inside this one. The workload itself is kube_client_workload.py.

Usage: .venv/bin/python bench/bench_kube_client.py [--tasks 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.cluster import kubectl
from tests.support.operator_process import CRD_FILE

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.config import load_kubeconfig
from devskyy_operator.kube.transport import ssl_context
from kube_client_workload import (
    CONCURRENCY,
    GROUP,
    PHASES,
    PLURAL,
    STATUS,
    VERSION,
    Round,
    Side,
    one_round,
)

OFFICIAL_PACKAGE = "kubernetes==37.*"  # the version the project used before its own loader
OFFICIAL_SIDES = ("aio", "sync")
BENCH = Path(__file__).resolve().parent


class Ours:
    def __init__(self, kubeconfig: str) -> None:
        self.kube = KubeClient(load_kubeconfig(kubeconfig))

    async def create(self, namespace: str, body: dict[str, Any]) -> None:
        await self.kube.create(resource_path(f"{GROUP}/{VERSION}", PLURAL, namespace), body)

    async def get(self, namespace: str, name: str) -> None:
        await self.kube.get(resource_path(f"{GROUP}/{VERSION}", PLURAL, namespace, name))

    async def patch_status(self, namespace: str, name: str) -> None:
        path = resource_path(f"{GROUP}/{VERSION}", PLURAL, namespace, name, "status")
        await self.kube.patch(path, STATUS)

    async def close(self) -> None:
        await self.kube.close()


class HttpxH2:
    """What KubeClient.request did before: httpx over HTTP/2, JSON by hand."""

    def __init__(self, kubeconfig: str) -> None:
        config = load_kubeconfig(kubeconfig)
        self.http = httpx.AsyncClient(
            base_url=config.server,
            verify=ssl_context(config),
            timeout=httpx.Timeout(30.0, connect=10.0),
            http2=True,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        )
        self.headers = {"Accept": "application/json"}
        if config.credential.authorization:
            self.headers["Authorization"] = config.credential.authorization

    async def _send(self, method: str, path: str, body: Any, content_type: str) -> None:
        content = None if body is None else json.dumps(body).encode()
        headers = (
            self.headers if content is None else {**self.headers, "Content-Type": content_type}
        )
        response = await self.http.request(method, path, content=content, headers=headers)
        response.json()
        response.raise_for_status()

    async def create(self, namespace: str, body: dict[str, Any]) -> None:
        path = resource_path(f"{GROUP}/{VERSION}", PLURAL, namespace)
        await self._send("POST", path, body, "application/json")

    async def get(self, namespace: str, name: str) -> None:
        path = resource_path(f"{GROUP}/{VERSION}", PLURAL, namespace, name)
        await self._send("GET", path, None, "")

    async def patch_status(self, namespace: str, name: str) -> None:
        path = resource_path(f"{GROUP}/{VERSION}", PLURAL, namespace, name, "status")
        await self._send("PATCH", path, STATUS, "application/merge-patch+json")

    async def close(self) -> None:
        await self.http.aclose()


def official_venv(directory: Path) -> Path:
    """A venv holding the official client only; its python."""
    venv = directory / "official-venv"
    subprocess.run(["uv", "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        ["uv", "pip", "install", "-q", "--python", str(python), OFFICIAL_PACKAGE], check=True
    )
    return python


async def official_round(
    python: Path, side: str, kubeconfig: str, namespace: str, tasks: int
) -> Round:
    """One round of an official side, in its own process (figures measured there)."""
    child = await asyncio.create_subprocess_exec(
        str(python), str(BENCH / "official_client_side.py"),
        side, kubeconfig, namespace, str(tasks),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"official side {side} failed ({child.returncode})")
    return {phase: (rate, cpu) for phase, (rate, cpu) in json.loads(out).items()}


async def measure(name: str, python: Path, kubeconfig: str, namespace: str, tasks: int) -> Round:
    if name in OFFICIAL_SIDES:
        return await official_round(python, name, kubeconfig, namespace, tasks)
    side: Side = Ours(kubeconfig) if name == "ours" else HttpxH2(kubeconfig)
    try:
        return await one_round(side, namespace, tasks)
    finally:
        await side.close()


async def run(python: Path, kubeconfig: str, tasks: int, rounds: int) -> None:
    sides = ["ours", "httpx-h2", *OFFICIAL_SIDES]
    results: dict[str, list[Round]] = {s: [] for s in sides}
    async with KubeClient.from_env(kubeconfig) as admin:
        for r in range(rounds):
            order = sides if r % 2 == 0 else list(reversed(sides))
            for name in order:
                namespace = f"bench-{name}-{r}"
                await admin.create(
                    resource_path("v1", "namespaces"),
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                )
                results[name].append(await measure(name, python, kubeconfig, namespace, tasks))
                await admin.delete(resource_path("v1", "namespaces", name=namespace))
                print(f"round {r + 1} {name}: {results[name][-1]}", flush=True)
    print(f"\n{tasks} requests per phase, concurrency {CONCURRENCY}, medians of {rounds} rounds")
    print(f"{'side':<10}{'phase':<14}{'req/s':>8}{'CPU µs/req':>12}{'vs ours':>9}")
    for phase in PHASES:
        base = statistics.median(r[phase][0] for r in results["ours"])
        for name in sides:
            rate = statistics.median(r[phase][0] for r in results[name])
            cpu = statistics.median(r[phase][1] for r in results[name])
            print(f"{name:<10}{phase:<14}{rate:>8.0f}{cpu:>12.0f}{rate / base:>8.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-kube-") as tmp,
        LocalCluster(Path(tmp) / "cluster", node=False) as cluster,
    ):
        python = official_venv(Path(tmp))
        kubectl(cluster, "apply", "--server-side", "-f", str(CRD_FILE))
        kubectl(
            cluster, "wait", "--for=condition=Established",
            "crd/devskyytasks.devskyy.io", "--timeout=60s",
        )  # fmt: skip
        asyncio.run(run(python, str(cluster.kubeconfig), args.tasks, args.rounds))


if __name__ == "__main__":
    main()
