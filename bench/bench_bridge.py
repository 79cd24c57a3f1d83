"""The bridge's sustained enqueue -> DevSkyyTask-created rate vs raw creates of the
same CRs with the same KubeClient against the same API server, in one run; plus
the bridge's Redis bookkeeping per task vs a plain Lua claim.

Starts its own LocalCluster (no node agent: creates only) and redis-server.
Usage: .venv/bin/python bench/bench_bridge.py [tasks]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.cluster import kubectl
from tests.support.operator_process import CRD_FILE
from tests.support.redis_server import running_redis

from bench_claim import PLAIN_CLAIM, fill
from devskyy_agents.models import parse_spec
from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.bridge import store
from devskyy_operator.bridge.bridge import CREATE_CONCURRENCY, Bridge
from devskyy_operator.bridge.informer import TaskInformer
from devskyy_operator.bridge.manifest import build_task_resource
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.redisq import Redis, claim, connect, enqueue
from devskyy_operator.redisq.scripts import disconnect
from devskyy_operator.settings import Settings

TASKS = 1000  # or the first command-line argument
ROUNDS = 2
SPEC = parse_spec({"type": "diagnostic", "input": {"user_id": "bench-user"}})


async def new_namespace(kube: KubeClient) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    await kube.create(resource_path("v1", "namespaces"), body)
    return name


async def raw_creates(kube: KubeClient, bodies: list[dict[str, object]]) -> float:
    """The same bodies the bridge sends, POSTed with the bridge's concurrency."""
    path = resource_path(keys.API_VERSION, keys.PLURAL, await new_namespace(kube))
    limit = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def one(body: dict[str, object]) -> None:
        async with limit:
            await kube.create(path, body)

    started = time.perf_counter()
    await asyncio.gather(*(one(b) for b in bodies))
    return len(bodies) / (time.perf_counter() - started)


async def bridged(kube: KubeClient, redis: Redis, kubeconfig: str) -> tuple[float, float]:
    """Enqueue TASKS while a bridge runs; rate until the last lease is released."""
    await redis.flushall()
    namespace = await new_namespace(kube)
    settings = Settings(
        namespace=namespace, kubeconfig=kubeconfig, bridge_window=TASKS + 10,
        bridge_interval_seconds=0.05, lease_seconds=60,
    )  # fmt: skip
    informer = TaskInformer(kube, namespace, Settings().watch_timeout_seconds)
    bridge = Bridge(kube, redis, settings, informer, task_types=("diagnostic",))
    stop = asyncio.Event()
    loops = [asyncio.ensure_future(informer.run(stop)), asyncio.ensure_future(bridge.run(stop))]
    await informer.synced.wait()
    started = time.perf_counter()
    for _ in range(TASKS):
        await enqueue(redis, SPEC)
    enqueued = time.perf_counter() - started
    queue, leases = keys.queue_key("diagnostic"), keys.leases_key("diagnostic")
    while True:  # done when every id left the queue and its lease: the CR exists
        if not await redis.zcard(queue) + await redis.zcard(leases):
            break
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    stop.set()
    for loop in loops:
        loop.cancel()
    await asyncio.gather(*loops, return_exceptions=True)
    return TASKS / elapsed, TASKS / enqueued


async def sample_bodies(redis: Redis) -> list[dict[str, object]]:
    await redis.flushall()
    for _ in range(TASKS):
        await enqueue(redis, SPEC)
    claimed = await claim(redis, "diagnostic", TASKS, 60)
    return [build_task_resource(t) for t in claimed]


async def redis_side(redis: Redis, batch: int = 50, tasks: int = 20000) -> tuple[float, float]:
    """claim + index + release_bridged (the bridge's Redis work) vs a plain Lua claim."""
    await redis.flushall()
    await fill(redis, "diagnostic", tasks)
    started = time.perf_counter()
    while claimed := await claim(redis, "diagnostic", batch, 60):
        await store.index_claimed(redis, "diagnostic", claimed)
        await store.release_bridged(redis, claimed)
    ours = tasks / (time.perf_counter() - started)
    await redis.flushall()
    await fill(redis, "diagnostic", tasks)
    queue, leases = keys.queue_key("diagnostic"), keys.leases_key("diagnostic")
    started = time.perf_counter()
    while await PLAIN_CLAIM(redis, [queue, leases], [batch, 60]):
        pass
    return ours, tasks / (time.perf_counter() - started)


async def run(kubeconfig: str, redis_url: str) -> None:
    redis = connect(redis_url)
    try:
        async with KubeClient.from_env(kubeconfig) as kube:
            bodies = await sample_bodies(redis)
            raw_runs, bridge_runs, enqueue_runs = [], [], []
            for _ in range(ROUNDS):  # alternate sides: the machine is shared and noisy
                raw_runs.append(await raw_creates(kube, bodies))
                rate, enqueue_rate = await bridged(kube, redis, kubeconfig)
                bridge_runs.append(rate)
                enqueue_runs.append(enqueue_rate)
        raw, bridge = max(raw_runs), max(bridge_runs)
        print(f"\n{TASKS} tasks, create concurrency {CREATE_CONCURRENCY}, best of {ROUNDS}")
        print(f"{'path':<44}{'tasks/s':>10}")
        print(f"{'raw POST of the same CRs (same KubeClient)':<44}{raw:>10.0f}")
        print(f"{'enqueue -> bridge -> CR created':<44}{bridge:>10.0f}")
        print(f"{'  (enqueue alone, same loop)':<44}{max(enqueue_runs):>10.0f}")
        print(f"ratio bridge / raw: {bridge / raw:.2f}x")
        ours, plain = await redis_side(redis)
        print(f"\n{'Redis side, batch 50':<44}{'tasks/s':>10}")
        print(f"{'claim + index + release (bridge)':<44}{ours:>10.0f}")
        print(f"{'plain Lua claim (ids only, no release)':<44}{plain:>10.0f}")
        print(f"ratio: {ours / plain:.2f}x")
    finally:
        await disconnect(redis)


def main() -> None:
    global TASKS  # the script's one knob
    if len(sys.argv) > 1:
        TASKS = int(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with (
            LocalCluster(work / "cluster", node_agent=False) as cluster,
            running_redis(work / "redis", appendonly=False) as server,
        ):
            kubectl(cluster, "apply", "--server-side", "-f", str(CRD_FILE))
            kubectl(
                cluster, "wait", "--for=condition=Established",
                "crd/devskyytasks.devskyy.io", "--timeout=60s",
            )  # fmt: skip
            print(f"bridge benchmark: apiserver {cluster.server}, redis :{server.port}")
            asyncio.run(run(str(cluster.kubeconfig), server.url))


if __name__ == "__main__":
    main()
