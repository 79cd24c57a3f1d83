"""The sweeper against the real API server and Redis: nothing stays stuck.

The states are made exactly as the components leave them (library claim,
the bridge's own create and release), then one or two passes run in-process.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from devskyy_operator import keys
from devskyy_operator.bridge import store
from devskyy_operator.bridge.informer import TaskInformer
from devskyy_operator.bridge.manifest import build_task_resource
from devskyy_operator.bridge.sweeper import Sweeper
from devskyy_operator.kube.client import KubeClient
from devskyy_operator.redisq import Redis, claim, enqueue, get_task
from devskyy_operator.redisq.claim import ClaimedTask
from devskyy_operator.redisq.task_store import mark_completed, mark_processing
from devskyy_operator.settings import Settings
from tests.bridge.support import diagnostic_spec
from tests.support.lifetimes import DEFAULTS, FINISH
from tests.support.tasks import tasks_path
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60), pytest.mark.usefixtures("devskyy_crd")]


@pytest_asyncio.fixture
async def sweeper(kube: KubeClient, namespace: str, aredis: Redis) -> AsyncIterator[Sweeper]:
    informer = TaskInformer(kube, namespace, DEFAULTS.watch_timeout_seconds)
    stop = asyncio.Event()
    watching = asyncio.ensure_future(informer.run(stop))
    await asyncio.wait_for(informer.synced.wait(), 10)
    settings = Settings(namespace=namespace)
    yield Sweeper(kube, aredis, settings, informer, batch=3, grace_seconds=0.0)
    stop.set()
    watching.cancel()
    await asyncio.gather(watching, return_exceptions=True)


async def claimed_task(redis: Redis, lease: float = 60.0) -> ClaimedTask:
    await enqueue(redis, diagnostic_spec())
    [task] = await claim(redis, "diagnostic", 1, lease)
    await store.index_claimed(redis, "diagnostic", [task])
    return task


async def bridged_task(kube: KubeClient, namespace: str, redis: Redis) -> ClaimedTask:
    """Claimed, created and released: what the bridge leaves after a 201."""
    task = await claimed_task(redis)
    await kube.create(tasks_path(namespace), build_task_resource(task))
    await store.release_bridged(redis, [task])
    return task


async def enqueued_score(aredis: Redis, task_id: str) -> float:
    """The score the task was enqueued with (kept in its hash across claims)."""
    return float(await aredis.hget(keys.task_key(task_id), "queue_score") or "nan")


async def sweep_twice(sweeper: Sweeper) -> None:
    """Two passes: the first only suspects, the second acts (grace 0)."""
    for _ in range(2):
        while True:  # one pass over the whole (small) index, batch by batch
            await sweeper.sweep()
            if sweeper.cursor.get("diagnostic", 0) == 0:
                break


async def test_orphan_never_created_goes_back_with_its_score(
    sweeper: Sweeper, aredis: Redis
) -> None:
    task = await claimed_task(aredis)
    await aredis.zrem(keys.leases_key("diagnostic"), task.task_id)  # lost the lease somehow
    await sweeper.sweep()
    assert await aredis.zscore(keys.queue_key("diagnostic"), task.task_id) is None  # suspect only
    await sweep_twice(sweeper)
    score = await aredis.zscore(keys.queue_key("diagnostic"), task.task_id)
    assert score == await enqueued_score(aredis, task.task_id)
    assert await aredis.sismember(keys.user_queued_key("alice"), task.task_id)


async def test_resource_deleted_behind_the_operators_back_is_lost_or_cancelled(
    sweeper: Sweeper, kube: KubeClient, namespace: str, aredis: Redis
) -> None:
    lost = await bridged_task(kube, namespace, aredis)
    gone = await bridged_task(kube, namespace, aredis)
    running = await bridged_task(kube, namespace, aredis)
    await mark_processing(aredis, running.task_id, "2026-01-05T12:00:00Z", "node", 1)
    await mark_processing(aredis, lost.task_id, "2026-01-05T12:00:00Z", "node", 1)
    await aredis.hset(keys.task_key(gone.task_id), "cancel_requested", "1")
    await aredis.sadd(keys.CANCEL_REQUESTS, gone.task_id)
    for task in (lost, gone):
        await kube.delete(tasks_path(namespace, task.task_id))
    await sweep_twice(sweeper)

    record = await get_task(aredis, lost.task_id)
    assert record is not None
    assert (record.status, record.raw["reason"]) == ("failed", "Lost")
    dead = json.loads(await aredis.get(keys.dlq_key(lost.task_id)) or "{}")
    assert dead["reason"] == "Lost"
    cancelled = await get_task(aredis, gone.task_id)
    assert cancelled is not None
    assert (cancelled.status, cancelled.cancelled) == ("failed", True)
    assert await aredis.get(keys.dlq_key(gone.task_id)) is None
    still = await get_task(aredis, running.task_id)
    assert still is not None
    assert still.status == "processing"  # its resource exists: untouched


async def test_finished_tasks_leave_the_index_and_stale_leases_are_reclaimed(
    sweeper: Sweeper, kube: KubeClient, namespace: str, aredis: Redis
) -> None:
    done = await bridged_task(kube, namespace, aredis)
    await mark_completed(aredis, done.task_id, "{}", "2026-01-05T12:00:00Z", **FINISH)
    stale = await claimed_task(aredis, lease=0.001)
    reports = []

    async def reclaimed() -> bool:
        reports.append(await sweeper.sweep())
        return sum(r.reclaimed for r in reports) > 0

    await eventually(reclaimed, what="the 1 ms lease reclaimed")
    assert sum(r.reclaimed for r in reports) == 1
    requeued = await aredis.zscore(keys.queue_key("diagnostic"), stale.task_id)
    assert requeued == await enqueued_score(aredis, stale.task_id)
    assert sum(r.dropped for r in reports) == 1
    assert await aredis.zscore(keys.bridged_key("diagnostic"), done.task_id) is None
