"""Operator admission: CR created -> Job created latency and admitted tasks/s.

Baseline measured in the same run, against the same apiserver, with the same
client and the same concurrency: creating the same number of Jobs directly.
The ratio says how much of the raw Job-create rate the operator keeps while it
also validates, writes Redis records, patches status and posts events.

Starts its own control plane (no node agent: pods need not run to measure
admission), redis-server and operator process. Usage:
    .venv/bin/python bench/bench_operator.py [--tasks 500]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.cluster import kubectl_binary
from tests.support.operator_process import CRD_FILE, running_operator
from tests.support.redis_server import running_redis

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.kube.client import KubeClient, resource_path

CONCURRENCY = 16


def job_manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "task", "image": "local/x", "command": ["true"]}],
                }
            },
        },
    }


def task_manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "devskyy.io/v1alpha1",
        "kind": "DevSkyyTask",
        "metadata": {"name": name},
        "spec": {"type": "diagnostic", "input": {"user_id": "bench"}},
    }


async def create_all(kube: KubeClient, path: str, bodies: list[dict[str, Any]]) -> dict[str, float]:
    """Create with bounded concurrency; return name -> time the create returned."""
    done: dict[str, float] = {}
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(body: dict[str, Any]) -> None:
        async with limit:
            await kube.create(path, body)
            done[body["metadata"]["name"]] = time.perf_counter()

    await asyncio.gather(*(one(b) for b in bodies))
    return done


async def namespace(kube: KubeClient, name: str) -> None:
    await kube.create(
        resource_path("v1", "namespaces"),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )


async def watch_jobs(kube: KubeClient, ns: str, expected: int, seen: dict[str, float]) -> None:
    path = resource_path("batch/v1", "jobs", ns)
    version = (await kube.get(path))["metadata"]["resourceVersion"]
    while len(seen) < expected:
        async for event in kube.watch(path, version, timeout_seconds=60):
            obj = event["object"]
            version = obj["metadata"].get("resourceVersion", version)
            if event["type"] == "ADDED":
                seen.setdefault(obj["metadata"]["name"], time.perf_counter())
            if len(seen) >= expected:
                return


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(cluster: LocalCluster, tasks: int, redis_url: str, logs: Path) -> None:
    async with KubeClient.from_env(str(cluster.kubeconfig)) as kube:
        await namespace(kube, "bench-raw")
        await namespace(kube, "bench-op")
        start = time.perf_counter()
        await create_all(
            kube,
            resource_path("batch/v1", "jobs", "bench-raw"),
            [job_manifest(f"raw-{i}") for i in range(tasks)],
        )
        raw_rate = tasks / (time.perf_counter() - start)
        # Second baseline: the same DevSkyyTasks created where no operator watches.
        # CRs cost the apiserver more than Jobs (CEL validation of every rule).
        await namespace(kube, "bench-cr")
        start = time.perf_counter()
        await create_all(
            kube,
            resource_path("devskyy.io/v1alpha1", "devskyytasks", "bench-cr"),
            [task_manifest(f"cr-{i}") for i in range(tasks)],
        )
        cr_rate = tasks / (time.perf_counter() - start)

        extra = {"DEVSKYY_CONCURRENCY__DIAGNOSTIC": str(tasks * 2), "LOG_LEVEL": "WARNING"}
        with running_operator(cluster, "bench-op", redis_url, logs, extra):
            await asyncio.sleep(3)  # leader election + first watch; not part of the figure
            seen: dict[str, float] = {}
            watcher = asyncio.create_task(watch_jobs(kube, "bench-op", tasks, seen))
            await asyncio.sleep(0.2)
            start = time.perf_counter()
            created = await create_all(
                kube,
                resource_path("devskyy.io/v1alpha1", "devskyytasks", "bench-op"),
                [task_manifest(f"op-{i}") for i in range(tasks)],
            )
            created_in = time.perf_counter() - start
            await asyncio.wait_for(watcher, timeout=600)
            end = max(seen.values())
        latencies = [seen[n] - created[n] for n in created]
        admitted_rate = tasks / (end - start)
    print(f"\nOperator admission benchmark: {tasks} tasks, client concurrency {CONCURRENCY}")
    print(f"{'measure':48} {'value':>12}")
    print(f"{'raw Job create rate (baseline), /s':48} {raw_rate:12.1f}")
    print(f"{'raw DevSkyyTask create rate (no operator), /s':48} {cr_rate:12.1f}")
    print(f"{'DevSkyyTask create rate with the operator, /s':48} {tasks / created_in:12.1f}")
    print(f"{'operator: admitted tasks (CR -> Job), /s':48} {admitted_rate:12.1f}")
    print(f"{'CR -> Job latency p50, ms':48} {1000 * statistics.median(latencies):12.1f}")
    print(f"{'CR -> Job latency p99, ms':48} {1000 * pct(latencies, 0.99):12.1f}")
    print(f"{'ratio admitted / raw Job create':48} {admitted_rate / raw_rate:12.2f}")
    print(f"{'ratio admitted / raw DevSkyyTask create':48} {admitted_rate / cr_rate:12.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--keep", help="keep cluster state and logs in this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-operator-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        with (
            LocalCluster(root / "cluster", node_agent=False) as cluster,
            running_redis(root / "redis") as redis,
        ):
            subprocess.run(
                [kubectl_binary(), "--kubeconfig", str(cluster.kubeconfig), "apply",
                 "--server-side", "-f", str(CRD_FILE)],
                check=True, capture_output=True,
            )  # fmt: skip
            subprocess.run(
                [kubectl_binary(), "--kubeconfig", str(cluster.kubeconfig), "wait",
                 "--for=condition=Established", "crd/devskyytasks.devskyy.io"],
                check=True, capture_output=True,
            )  # fmt: skip
            asyncio.run(measure(cluster, args.tasks, redis.url, root / "logs"))


if __name__ == "__main__":
    main()
