"""The workload of bench_kube_client.py, shared by every side (stdlib only).

Imported both by the bench (our client and httpx) and by official_client_side.py,
which runs in a throwaway venv that holds nothing but the official `kubernetes`
package: the same requests, concurrency and clocks on every side.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

CONCURRENCY = 16  # the bridge's create limit and bench_operator's
GROUP, VERSION, PLURAL = "devskyy.io", "v1alpha1", "devskyytasks"
STATUS = {"status": {"phase": "Queued", "message": "bench"}}
PHASES = ("create", "get", "patch status")

Round = dict[str, tuple[float, float]]  # phase -> (requests/s, client CPU µs per request)


def task_manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "DevSkyyTask",
        "metadata": {"name": name},
        "spec": {"type": "diagnostic", "input": {"user_id": "bench"}},
    }


class Side(Protocol):
    async def create(self, namespace: str, body: dict[str, Any]) -> None: ...
    async def get(self, namespace: str, name: str) -> None: ...
    async def patch_status(self, namespace: str, name: str) -> None: ...
    async def close(self) -> None: ...


async def bounded(calls: list[Callable[[], Awaitable[None]]]) -> None:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(call: Callable[[], Awaitable[None]]) -> None:
        async with limit:
            await call()

    await asyncio.gather(*(one(c) for c in calls))


async def one_round(side: Side, namespace: str, tasks: int) -> Round:
    """Per phase: (requests/s, client CPU µs per request)."""
    names = [f"t-{i}" for i in range(tasks)]
    phases: dict[str, list[Callable[[], Awaitable[None]]]] = {
        "create": [lambda n=n: side.create(namespace, task_manifest(n)) for n in names],  # type: ignore[misc]
        "get": [lambda n=n: side.get(namespace, n) for n in names],  # type: ignore[misc]
        "patch status": [lambda n=n: side.patch_status(namespace, n) for n in names],  # type: ignore[misc]
    }
    out: Round = {}
    for phase, calls in phases.items():
        wall, cpu = time.perf_counter(), time.process_time()
        await bounded(calls)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        out[phase] = (tasks / wall, cpu / tasks * 1e6)
    return out
