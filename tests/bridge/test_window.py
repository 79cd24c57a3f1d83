"""The bounded window: 300 queued tasks never become more than 20 waiting CRs,
and two bridges share one window.

Admission is played by the test (it marks waiting CRs Running a few at a time,
as the operator's admission would), so the window is exercised at full speed
without running 300 pods; the samples are taken while the bridge works.
"""

from __future__ import annotations

import asyncio
import random
from functools import partial
from pathlib import Path

import pytest

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient
from devskyy_operator.redisq import Redis
from tests.bridge.proxy import TcpProxy, kubeconfig_via
from tests.bridge.support import (
    admit_all,
    assert_each_exactly_once,
    enqueue_many,
    resources,
    running_bridge,
)
from tests.support.tasks import tasks_path
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120), pytest.mark.usefixtures("devskyy_crd")]

WINDOW = 20
LEASES = keys.leases_key("diagnostic")


async def test_window_bounds_waiting_resources_while_300_drain(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    aredis: Redis,
) -> None:  # fmt: skip
    ids = await enqueue_many(aredis, 300)
    samples: list[int] = []
    admitted: set[str] = set()
    rng = random.Random(7)

    async def sample_and_admit() -> bool:
        found = await resources(kube, namespace)
        waiting = [n for n, r in found.items() if not (r.get("status") or {}).get("phase")]
        samples.append(len(waiting))
        for name in rng.sample(waiting, k=min(len(waiting), rng.randint(0, 12))):
            status = {"status": {"phase": "Running"}}
            await kube.patch(tasks_path(namespace, name) + "/status", status)
            admitted.add(name)
        return len(found) == len(ids)

    extra = {"DEVSKYY_BRIDGE_WINDOW": str(WINDOW)}
    with running_bridge(cluster.kubeconfig, namespace, redis_url, tmp_path, extra):
        await eventually(sample_and_admit, timeout=90, interval=0.05, what="300 CRs")
        await eventually(lambda: _released(aredis), timeout=10, what="leases released")
    assert max(samples) <= WINDOW, samples
    assert max(samples) == WINDOW  # the window was actually filled
    assert len(samples) > 20
    await assert_each_exactly_once(kube, namespace, aredis, ids)


async def test_two_bridges_share_one_window(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    aredis: Redis,
) -> None:  # fmt: skip
    """Leases count against the window whichever bridge holds them. With the API
    server refusing connections every create fails, so each bridge keeps its
    claims and, cycle after cycle, asks for what its window has left: alone, each
    would fill a window of its own; together they hold one."""
    proxy = await TcpProxy(cluster.apiserver_port).start()
    try:
        config = kubeconfig_via(cluster.kubeconfig, proxy.port, tmp_path)
        extra = {"DEVSKYY_BRIDGE_WINDOW": str(WINDOW)}
        with (
            running_bridge(config, namespace, redis_url, tmp_path, extra) as one,
            running_bridge(config, namespace, redis_url, tmp_path, extra) as two,
        ):
            for bridge in (one, two):
                await eventually(partial(asyncio.to_thread, bridge.ready), what="bridge ready")
            proxy.set_mode("refuse")
            ids = await enqueue_many(aredis, 100)
            left = len(ids) - WINDOW

            async def each_asked_after_the_window_filled() -> bool:
                # A bridge holding claims retries them every cycle and logs each
                # failed round; one without claims shows the queue it saw in its
                # gauge. Either way it has asked for the window's room again.
                return all(
                    b.log().count("creates failed") >= 2
                    or f'worker_queue_size{{type="diagnostic"}} {left}.0' in b.metrics()
                    for b in (one, two)
                )

            await eventually(each_asked_after_the_window_filled, timeout=30, what="both cycling")
            assert await aredis.zcard(LEASES) == WINDOW
            assert await aredis.zcard(keys.queue_key("diagnostic")) == left
            proxy.set_mode("forward")
            await eventually(lambda: admit_all(kube, namespace, ids), timeout=60, what="CRs")
            await eventually(lambda: _released(aredis), timeout=10, what="leases released")
    finally:
        await proxy.close()
    await assert_each_exactly_once(kube, namespace, aredis, ids)


async def _released(redis: Redis) -> bool:
    return await redis.zcard(LEASES) == 0
