"""Our httpx client (HTTP/2) against the official clients, on the hot path.

The bridge and the operator spend their API time creating DevSkyyTasks, reading
them and patching their status, many at once. Each side does the same N creates,
N GETs and N status patches with the same concurrency against the same API
server, in interleaved rounds; the figures are requests/s and the client's own
CPU per request (the API server shares the 2 cores, so client CPU is load it
takes from the server). Sides:

- ours: `KubeClient` (aiohttp, HTTP/1.1 pool, credentials from the official package)
- httpx-h2: the transport `KubeClient` had before (httpx over HTTP/2, one
  multiplexed connection, up to 16 connections), the same requests
- aio: `kubernetes.aio` (the official package's asyncio client, aiohttp)
- sync: the official synchronous client (urllib3) in a thread pool

Usage: .venv/bin/python bench/bench_kube_client.py [--tasks 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.cluster import kubectl
from tests.support.operator_process import CRD_FILE

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.config import load_kubeconfig
from devskyy_operator.kube.transport import ssl_context

CONCURRENCY = 16  # the bridge's create limit and bench_operator's
GROUP, VERSION, PLURAL = "devskyy.io", "v1alpha1", "devskyytasks"


def task_manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "DevSkyyTask",
        "metadata": {"name": name},
        "spec": {"type": "diagnostic", "input": {"user_id": "bench"}},
    }


STATUS = {"status": {"phase": "Queued", "message": "bench"}}


class Side(Protocol):
    async def create(self, namespace: str, body: dict[str, Any]) -> None: ...
    async def get(self, namespace: str, name: str) -> None: ...
    async def patch_status(self, namespace: str, name: str) -> None: ...
    async def close(self) -> None: ...


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


class OfficialAio:
    def __init__(self, api: Any, client: Any) -> None:
        self.api, self.client = api, client

    @classmethod
    async def open(cls, kubeconfig: str) -> OfficialAio:
        from kubernetes.aio import client, config

        configuration = client.Configuration()
        configuration.connection_pool_maxsize = CONCURRENCY
        await config.load_kube_config(kubeconfig, client_configuration=configuration)
        api_client = client.ApiClient(configuration)
        return cls(client.CustomObjectsApi(api_client), api_client)

    async def create(self, namespace: str, body: dict[str, Any]) -> None:
        await self.api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    async def get(self, namespace: str, name: str) -> None:
        await self.api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    async def patch_status(self, namespace: str, name: str) -> None:
        await self.api.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, STATUS
        )

    async def close(self) -> None:
        await self.client.close()


class OfficialSync:
    def __init__(self, kubeconfig: str) -> None:
        from kubernetes import client, config

        configuration = client.Configuration()
        configuration.connection_pool_maxsize = CONCURRENCY
        config.load_kube_config(kubeconfig, client_configuration=configuration)
        self.client = client.ApiClient(configuration)
        self.api = client.CustomObjectsApi(self.client)
        self.pool = ThreadPoolExecutor(CONCURRENCY)

    async def _run(self, call: Callable[..., Any], *args: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(self.pool, call, *args)

    async def create(self, namespace: str, body: dict[str, Any]) -> None:
        create = self.api.create_namespaced_custom_object
        await self._run(create, GROUP, VERSION, namespace, PLURAL, body)

    async def get(self, namespace: str, name: str) -> None:
        get = self.api.get_namespaced_custom_object
        await self._run(get, GROUP, VERSION, namespace, PLURAL, name)

    async def patch_status(self, namespace: str, name: str) -> None:
        await self._run(
            self.api.patch_namespaced_custom_object_status,
            GROUP, VERSION, namespace, PLURAL, name, STATUS,
        )  # fmt: skip

    async def close(self) -> None:
        self.pool.shutdown()
        self.client.close()


async def bounded(calls: list[Callable[[], Awaitable[None]]]) -> None:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(call: Callable[[], Awaitable[None]]) -> None:
        async with limit:
            await call()

    await asyncio.gather(*(one(c) for c in calls))


async def one_round(side: Side, namespace: str, tasks: int) -> dict[str, tuple[float, float]]:
    """Per phase: (requests/s, client CPU µs per request)."""
    names = [f"t-{i}" for i in range(tasks)]
    phases: dict[str, list[Callable[[], Awaitable[None]]]] = {
        "create": [lambda n=n: side.create(namespace, task_manifest(n)) for n in names],  # type: ignore[misc]
        "get": [lambda n=n: side.get(namespace, n) for n in names],  # type: ignore[misc]
        "patch status": [lambda n=n: side.patch_status(namespace, n) for n in names],  # type: ignore[misc]
    }
    out: dict[str, tuple[float, float]] = {}
    for phase, calls in phases.items():
        wall, cpu = time.perf_counter(), time.process_time()
        await bounded(calls)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        out[phase] = (tasks / wall, cpu / tasks * 1e6)
    return out


async def open_side(name: str, kubeconfig: str) -> Side:
    if name == "ours":
        return Ours(kubeconfig)
    if name == "httpx-h2":
        return HttpxH2(kubeconfig)
    if name == "aio":
        return await OfficialAio.open(kubeconfig)
    return OfficialSync(kubeconfig)


async def run(kubeconfig: str, tasks: int, rounds: int) -> None:
    sides = ["ours", "httpx-h2", "aio", "sync"]
    results: dict[str, list[dict[str, tuple[float, float]]]] = {s: [] for s in sides}
    async with KubeClient.from_env(kubeconfig) as admin:
        for r in range(rounds):
            order = sides if r % 2 == 0 else list(reversed(sides))
            for name in order:
                namespace = f"bench-{name}-{r}"
                await admin.create(
                    resource_path("v1", "namespaces"),
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                )
                side = await open_side(name, kubeconfig)
                try:
                    results[name].append(await one_round(side, namespace, tasks))
                finally:
                    await side.close()
                await admin.delete(resource_path("v1", "namespaces", name=namespace))
                print(f"round {r + 1} {name}: {results[name][-1]}", flush=True)
    print(f"\n{tasks} requests per phase, concurrency {CONCURRENCY}, medians of {rounds} rounds")
    print(f"{'side':<10}{'phase':<14}{'req/s':>8}{'CPU µs/req':>12}{'vs ours':>9}")
    for phase in ("create", "get", "patch status"):
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
        LocalCluster(Path(tmp) / "cluster", node_agent=False) as cluster,
    ):
        kubectl(cluster, "apply", "--server-side", "-f", str(CRD_FILE))
        kubectl(
            cluster, "wait", "--for=condition=Established",
            "crd/devskyytasks.devskyy.io", "--timeout=60s",
        )  # fmt: skip
        asyncio.run(run(str(cluster.kubeconfig), args.tasks, args.rounds))


if __name__ == "__main__":
    main()
