"""The bounded window: 300 queued tasks never become more than 20 waiting CRs.

Admission is played by the test (it marks waiting CRs Running a few at a time,
as the operator's admission would), so the window is exercised at full speed
without running 300 pods; the samples are taken while the bridge works.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from devskyy_operator.devcluster.launcher import LocalCluster
from devskyy_operator.kube.client import KubeClient
from devskyy_operator.queue import Redis
from tests.bridge.support import assert_each_exactly_once, enqueue_many, resources, running_bridge
from tests.support.tasks import tasks_path
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120), pytest.mark.usefixtures("devskyy_crd")]

WINDOW = 20


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


async def _released(redis: Redis) -> bool:
    return await redis.zcard("devskyy:leases:diagnostic") == 0
