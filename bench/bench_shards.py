"""Scale-out: admitted tasks/s with one operator replica and with two replicas
holding one shard each (`DEVSKYY_SHARDS=2`), side by side in one run.

Same control plane (no node: the bench_operator "fast node" binds the pods, so
no kubelet competes for the cores), same Redis, same burst of DevSkyyTasks
created at the same client concurrency; the figure is tasks / (first create ->
last Job seen), as in bench_operator. Each round measures one replica, then two
(in fresh namespaces, task names unique across the run since Redis records are
keyed by name), and prints the ratio two/one; --rounds repeats the pair.
Each replica's CPU seconds per admitted task are printed too: with two
replicas on two cores the apiserver (and etcd) compete for the same CPUs.

Usage:
    .venv/bin/python bench/bench_shards.py [--tasks 500] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.support.operator_process import OperatorProcess, running_operator
from tests.support.redis_server import running_redis

from bench_operator import (
    TASK_PATH,
    add_fast_node,
    component_cpu,
    cpu_seconds,
    create_all,
    install_crd,
    namespace,
    operator_extra,
    task_manifest,
    watch_added,
)
from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.controller.shards import shard_lease_name
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import NotFound


async def wait_until(
    check: Callable[[], Awaitable[bool]], what: str, timeout: float = 120.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(what)


async def shard_holders(kube: KubeClient, ns: str, shards: int) -> set[str]:
    held = set()
    for shard in range(shards):
        path = resource_path(
            "coordination.k8s.io/v1", "leases", ns, shard_lease_name(shard, shards)
        )
        with contextlib.suppress(NotFound):
            holder = (await kube.get(path))["spec"].get("holderIdentity")
            if holder:
                held.add(str(holder))
    return held


@dataclass(frozen=True)
class Burst:
    rate: float  # admitted tasks/s
    operator_ms: list[float]  # CPU ms per admitted task, each operator replica
    control_plane_ms: float  # CPU ms per admitted task: etcd, apiserver, controllers
    busy_cores: float  # operators + control plane CPU seconds per wall second


def control_plane_cpu(cluster: LocalCluster) -> float:
    return sum(component_cpu(cluster).values())


async def burst(
    cluster: LocalCluster,
    kube: KubeClient,
    ns: str,
    prefix: str,
    tasks: int,
    operators: list[OperatorProcess],
) -> Burst:
    """One burst: the admission rate and where the CPU went."""
    cpu_before = [cpu_seconds(o.process.pid) for o in operators]
    plane_before = control_plane_cpu(cluster)
    seen: dict[str, float] = {}
    jobs = resource_path("batch/v1", "jobs", ns)
    watcher = asyncio.create_task(watch_added(kube, jobs, tasks, seen))
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    await create_all(
        kube, resource_path(*TASK_PATH, ns), [task_manifest(f"{prefix}-{i}") for i in range(tasks)]
    )
    await asyncio.wait_for(watcher, timeout=900)
    wall = max(seen.values()) - start
    used = [cpu_seconds(o.process.pid) - b for o, b in zip(operators, cpu_before, strict=True)]
    plane = control_plane_cpu(cluster) - plane_before
    return Burst(
        tasks / wall, [1000 * u / tasks for u in used], 1000 * plane / tasks,
        (sum(used) + plane) / (time.perf_counter() - start),
    )  # fmt: skip


async def settle_pods(kube: KubeClient, ns: str, tasks: int) -> None:
    """The Job controller and scheduler finish a burst's pods before the next burst."""

    async def created() -> bool:
        return len(await kube.list(resource_path("v1", "pods", ns))) >= tasks

    await wait_until(created, f"{tasks} pods in {ns}", timeout=600)


async def cr_create_rate(kube: KubeClient, ns: str, prefix: str, tasks: int) -> float:
    """The same DevSkyyTasks created where no operator watches: the client's ceiling."""
    await namespace(kube, ns)
    start = time.perf_counter()
    await create_all(
        kube, resource_path(*TASK_PATH, ns), [task_manifest(f"{prefix}-{i}") for i in range(tasks)]
    )
    return tasks / (time.perf_counter() - start)


async def drain_rate(
    cluster: LocalCluster, kube: KubeClient, redis_url: str, logs: Path, ns: str,
    prefix: str, tasks: int, envs: list[dict[str, str]],
) -> float:  # fmt: skip
    """A backlog created before the operators start: Jobs/s from the first Job to the
    last (process start-up and Lease election are outside the figure)."""
    await namespace(kube, ns)
    await create_all(
        kube, resource_path(*TASK_PATH, ns), [task_manifest(f"{prefix}-{i}") for i in range(tasks)]
    )
    seen: dict[str, float] = {}
    jobs = resource_path("batch/v1", "jobs", ns)
    watcher = asyncio.create_task(watch_added(kube, jobs, tasks, seen))
    await asyncio.sleep(0.2)
    with contextlib.ExitStack() as stack:
        for env in envs:
            stack.enter_context(running_operator(cluster, ns, redis_url, logs, env))
        await asyncio.wait_for(watcher, timeout=900)
    await settle_pods(kube, ns, tasks)
    return (tasks - 1) / (max(seen.values()) - min(seen.values()))


@dataclass(frozen=True)
class Round:
    cr_rate: float
    one: Burst
    two: Burst
    drain_one: float
    drain_two: float


async def one_round(
    cluster: LocalCluster, kube: KubeClient, redis_url: str, logs: Path, tasks: int, round_: int
) -> Round:
    extra = operator_extra(tasks * 2)  # the limits never hold a task back (per shard: tasks)
    sharded = {**extra, "DEVSKYY_SHARDS": "2"}
    cr_rate = await cr_create_rate(kube, f"cr-{round_}", f"c{round_}", tasks)
    single = f"one-{round_}"
    await namespace(kube, single)
    with running_operator(cluster, single, redis_url, logs, extra) as only:
        await wait_until(lambda: asyncio.to_thread(only.ready), "one replica to lead")
        await asyncio.sleep(1)
        one = await burst(cluster, kube, single, f"a{round_}", tasks, [only])
    await settle_pods(kube, single, tasks)

    pair = f"two-{round_}"
    await namespace(kube, pair)
    with (
        running_operator(cluster, pair, redis_url, logs, {**sharded, "HOSTNAME": "s0"}) as first,
        running_operator(cluster, pair, redis_url, logs, {**sharded, "HOSTNAME": "s1"}) as second,
    ):

        async def one_each() -> bool:
            holders = await shard_holders(kube, pair, 2)
            return {h.rsplit("-", 1)[0] for h in holders} == {"s0", "s1"}

        await wait_until(one_each, "each replica to hold one shard")
        await asyncio.sleep(1)
        two = await burst(cluster, kube, pair, f"b{round_}", tasks, [first, second])
    await settle_pods(kube, pair, tasks)
    drain_one = await drain_rate(
        cluster, kube, redis_url, logs, f"bl1-{round_}", f"d{round_}", tasks, [extra]
    )
    drain_two = await drain_rate(
        cluster, kube, redis_url, logs, f"bl2-{round_}", f"e{round_}", tasks,
        [{**sharded, "HOSTNAME": "s0"}, {**sharded, "HOSTNAME": "s1"}],
    )  # fmt: skip
    return Round(cr_rate, one, two, drain_one, drain_two)


async def measure(
    cluster: LocalCluster, tasks: int, rounds: int, redis_url: str, logs: Path
) -> None:
    async with KubeClient.from_env(str(cluster.kubeconfig)) as kube:
        await add_fast_node(kube)
        results = [await one_round(cluster, kube, redis_url, logs, tasks, r) for r in range(rounds)]
    print(f"\nShard benchmark: {tasks} tasks per burst, {rounds} round(s)")
    print("Burst (tasks created while the operators run):")
    print(f"{'round':>5} {'replicas':>8} {'admitted/s':>11} {'operator CPU ms/task':>21}"
          f" {'control plane ms/task':>22} {'busy cores':>11}")  # fmt: skip
    for i, r in enumerate(results):
        for b in (r.one, r.two):
            each = " + ".join(f"{c:.2f}" for c in b.operator_ms)
            print(f"{i:>5} {len(b.operator_ms):>8} {b.rate:11.1f} {each:>21}"
                  f" {b.control_plane_ms:22.2f} {b.busy_cores:11.2f}")  # fmt: skip
    print("\nPer round: the client's DevSkyyTask create rate (no operator), and a backlog")
    print("created first, then drained (Jobs/s, first Job to last):")
    print(f"{'round':>5} {'CR create/s':>12} {'burst 1':>8} {'burst 2':>8} {'ratio':>6}"
          f" {'drain 1':>8} {'drain 2':>8} {'ratio':>6}")  # fmt: skip
    for i, r in enumerate(results):
        print(f"{i:>5} {r.cr_rate:12.1f} {r.one.rate:8.1f} {r.two.rate:8.1f}"
              f" {r.two.rate / r.one.rate:6.2f} {r.drain_one:8.1f} {r.drain_two:8.1f}"
              f" {r.drain_two / r.drain_one:6.2f}")  # fmt: skip
    for label, ratios in (
        ("burst", [r.two.rate / r.one.rate for r in results]),
        ("backlog drain", [r.drain_two / r.drain_one for r in results]),
    ):
        print(f"ratio 2 replicas / 1 replica, {label}: median {statistics.median(ratios):.2f}"
              f" (range {min(ratios):.2f}-{max(ratios):.2f})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--keep", help="keep cluster state and logs in this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        with (
            LocalCluster(root / "cluster", node=False) as cluster,
            running_redis(root / "redis") as redis,
        ):
            install_crd(cluster)
            asyncio.run(measure(cluster, args.tasks, args.rounds, redis.url, root / "logs"))


if __name__ == "__main__":
    main()
