"""Sustained load at half the operator's measured maximum: latency, not throughput.

Phase 0 measures the maximum: a burst of `--burst` DevSkyyTasks, admitted
tasks/s as in bench_operator. Then, at half that rate (or `--rate`), for
`--seconds` each:

1. CR -> Job: DevSkyyTasks created directly, one every 1/rate s; latency from
   the create's answer to the Job's ADDED event.
2. API -> Job: tasks enqueued through the HTTP API (uvicorn process), then the
   bridge (process) creates the CR and the operator the Job; latency from the
   202 answer to the Job's ADDED event.

The fast node of bench_operator finishes every pod meanwhile, so the number of
live Jobs stays bounded as in a steady state. Usage:
    .venv/bin/python bench/bench_latency.py [--seconds 120] [--rate R]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.api.live_server import TOKENS, running_api
from tests.bridge.support import running_bridge
from tests.support.operator_process import running_operator
from tests.support.redis_server import running_redis

from bench_operator import (
    TASK_PATH,
    add_fast_node,
    create_all,
    finish_pending_pods,
    install_crd,
    namespace,
    operator_extra,
    pct,
    task_manifest,
)
from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.kube.client import KubeClient, resource_path

NS = "bench-lat"


async def job_times(kube: KubeClient, ns: str, seen: dict[str, float], stop: asyncio.Event) -> None:
    """name -> when its Job's ADDED event arrived, until `stop`."""
    path = resource_path("batch/v1", "jobs", ns)
    version = (await kube.get(path))["metadata"]["resourceVersion"]
    while not stop.is_set():
        async for event in kube.watch(path, version, timeout_seconds=30):
            obj = event["object"]
            version = obj["metadata"].get("resourceVersion", version)
            if event["type"] == "ADDED":
                seen.setdefault(obj["metadata"]["name"], time.perf_counter())
            if stop.is_set():
                return


async def paced(rate: float, seconds: float, send: Any) -> dict[str, float]:
    """Call `send(i)` every 1/rate s for `seconds`; name -> when its answer came."""
    answered: dict[str, float] = {}
    pending: set[asyncio.Task[None]] = set()

    async def one(i: int) -> None:
        name = await send(i)
        answered[name] = time.perf_counter()

    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        task = asyncio.create_task(one(i))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    return answered


async def finisher(kube: KubeClient, stop: asyncio.Event) -> None:
    """Keep the fast node finishing pods until `stop`."""
    done: set[str] = set()
    while not stop.is_set():
        with contextlib.suppress(Exception):
            await finish_pending_pods(kube, NS, done)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def report(label: str, answered: dict[str, float], seen: dict[str, float]) -> None:
    latencies = [seen[n] - t for n, t in answered.items() if n in seen]
    missing = len(answered) - len(latencies)
    print(f"{label:40} n={len(latencies):5}  p50 {1000 * statistics.median(latencies):8.1f} ms"
          f"  p99 {1000 * pct(latencies, 0.99):8.1f} ms  max {1000 * max(latencies):8.1f} ms"
          f"  without a Job {missing}")  # fmt: skip


async def measure(cluster: LocalCluster, redis_url: str, logs: Path, args: Any) -> None:
    async with KubeClient.from_env(str(cluster.kubeconfig)) as kube:
        await namespace(kube, NS)
        await add_fast_node(kube)
        extra = operator_extra(100_000)
        with (
            running_operator(cluster, NS, redis_url, logs, extra) as operator,
            running_bridge(cluster.kubeconfig, NS, redis_url, logs),
            running_api(redis_url, rate_limit_per_minute="1000000") as api,
        ):
            for _ in range(300):
                if await asyncio.to_thread(operator.ready):
                    break
                await asyncio.sleep(0.2)
            seen: dict[str, float] = {}
            stop = asyncio.Event()
            watcher = asyncio.create_task(job_times(kube, NS, seen, stop))
            finishing = asyncio.create_task(finisher(kube, stop))
            await asyncio.sleep(0.5)
            rate = args.rate
            if rate is None:
                burst = [task_manifest(f"burst-{i}") for i in range(args.burst)]
                start = time.perf_counter()
                await create_all(kube, resource_path(*TASK_PATH, NS), burst)
                for _ in range(6000):  # at most 10 minutes
                    if sum(1 for n in seen if n.startswith("burst-")) >= args.burst:
                        break
                    await asyncio.sleep(0.1)
                top = args.burst / (max(seen.values()) - start)
                rate = top / 2
                print(
                    f"\nmeasured maximum: {top:.1f} admitted tasks/s; sustained rate {rate:.1f}/s"
                )

            async def create_cr(i: int) -> str:
                name = f"lat-{i}"
                await kube.create(resource_path(*TASK_PATH, NS), task_manifest(name))
                return name

            crs = await paced(rate, args.seconds, create_cr)
            await asyncio.sleep(5)  # the last ones get their Job
            headers = {"Authorization": f"Bearer {TOKENS['alice']}"}
            async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as http:

                async def enqueue(i: int) -> str:
                    body = {"type": "diagnostic", "input": {"user_id": "alice"}}
                    response = await http.post("/v1/tasks", json=body)
                    response.raise_for_status()
                    return str(response.json()["id"])

                enqueued = await paced(rate, args.seconds, enqueue)
            await asyncio.sleep(10)
            stop.set()
            await asyncio.gather(watcher, finishing, return_exceptions=True)
    print(f"\nSustained load: {rate:.1f} tasks/s for {args.seconds:.0f} s per path")
    report("CR created -> Job created", crs, seen)
    report("API enqueue (202) -> Job created", enqueued, seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rate", type=float, help="tasks/s (default: half the measured max)")
    parser.add_argument("--burst", type=int, default=200, help="tasks of the max-rate burst")
    parser.add_argument("--keep", help="keep cluster state and logs in this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        with (
            LocalCluster(root / "cluster", node=False) as cluster,
            running_redis(root / "redis") as redis,
        ):
            install_crd(cluster)
            asyncio.run(measure(cluster, redis.url, root / "logs", args))


if __name__ == "__main__":
    main()
