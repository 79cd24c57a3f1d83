"""Reconciles Redis with the DevSkyyTask resources so that no task stays stuck.

Every pass (bounded: `batch` ids per type from `devskyy:bridged:<type>`, a
cursor walks the index across passes) and for each id not in its queue nor
in its lease set:

| task hash                               | resource | action                             |
|-----------------------------------------|----------|------------------------------------|
| gone, completed or failed               | any      | drop from the index                |
| pending, never bridged (no bridged_at)  | absent   | back into its queue (queue_score)  |
| pending/processing, bridged, cancel req | absent   | failed, cancelled                  |
| pending/processing, bridged             | absent   | failed, reason Lost, DLQ record    |

"Lost" is all we can say: the resource was deleted (kubectl delete, an etcd
restore) while no operator recorded it; deleting through the API's cancel is the
cancelled row. A resource counts as absent only after a fresh GET, and only for
ids suspected in an earlier pass at least `grace_seconds` before, so the
operator, which records deletions itself, always goes first. Expired leases
are reclaimed on every pass too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from devskyy_agents.models import TaskType
from devskyy_operator import keys
from devskyy_operator.bridge import store
from devskyy_operator.bridge.informer import TaskInformer
from devskyy_operator.bridge.lost import RECORD_FIELDS, record_lost
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import NotFound
from devskyy_operator.redisq.claim import reclaim_expired
from devskyy_operator.redisq.records import TERMINAL_STATUSES
from devskyy_operator.redisq.scripts import Redis
from devskyy_operator.settings import Settings

log = logging.getLogger("devskyy.bridge")
ALL_TYPES = tuple(t.value for t in TaskType)

FIELDS = ("status", "bridged_at", "cancel_requested", "source", *RECORD_FIELDS)


@dataclass
class SweepReport:
    reclaimed: int = 0
    requeued: int = 0
    failed: int = 0
    dropped: int = 0


class Sweeper:
    def __init__(
        self,
        kube: KubeClient,
        redis: Redis,
        settings: Settings,
        informer: TaskInformer,
        *,
        batch: int = 200,
        grace_seconds: float,
        task_types: Sequence[str] = ALL_TYPES,
    ) -> None:
        self.kube = kube
        self.redis = redis
        self.settings = settings
        self.informer = informer
        self.batch = batch
        self.grace_seconds = grace_seconds
        self.task_types = tuple(task_types)
        self.tasks_path = resource_path(keys.API_VERSION, keys.PLURAL, settings.namespace)
        self.cursor: dict[str, int] = {}
        self.suspects: dict[str, float] = {}  # id -> monotonic time first seen orphaned

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if stop.is_set():
                return
            try:
                report = await self.sweep()
            except Exception as exc:
                log.warning("sweep failed (%s: %s)", type(exc).__name__, exc)
                continue
            if report.requeued or report.failed or report.reclaimed:
                log.info("sweep: %s", report)

    async def sweep(self) -> SweepReport:
        report = SweepReport()
        for task_type in self.task_types:
            report.reclaimed += await reclaim_expired(
                self.redis, task_type, record_ttl_seconds=self.settings.task_record_ttl_seconds,
                region=self.settings.region,
            )  # fmt: skip
            await self._sweep_type(task_type, report)
        return report

    async def _sweep_type(self, task_type: str, report: SweepReport) -> None:
        region = self.settings.region
        index = keys.bridged_key(task_type, region)
        start = self.cursor.get(task_type, 0)
        ids: list[str] = await self.redis.zrange(index, start, start + self.batch - 1)
        async with self.redis.pipeline(transaction=False) as pipe:
            for task_id in ids:
                pipe.hmget(keys.task_key(task_id), list(FIELDS))
                pipe.zscore(keys.queue_key(task_type, region), task_id)
                pipe.zscore(keys.leases_key(task_type, region), task_id)
            replies = await pipe.execute()
        done: list[str] = []
        for n, task_id in enumerate(ids):
            record = dict(zip(FIELDS, replies[3 * n], strict=True))
            held = replies[3 * n + 1] is not None or replies[3 * n + 2] is not None
            if record["status"] is None or record["status"] in TERMINAL_STATUSES:
                done.append(task_id)
            elif held or self.informer.has(task_id):
                self.suspects.pop(task_id, None)
            elif not self._suspect(task_id):
                continue
            elif await self._exists(task_id):
                self.suspects.pop(task_id, None)
            else:
                await self._settle_orphan(task_type, task_id, record, report)
        if done:
            await self.redis.zrem(index, *done)
            report.dropped += len(done)
            for task_id in done:
                self.suspects.pop(task_id, None)
        full = len(ids) == self.batch
        self.cursor[task_type] = start + len(ids) - len(done) if full else 0

    def _suspect(self, task_id: str) -> bool:
        """True once the id looked orphaned in an earlier pass, `grace_seconds` ago or more."""
        now = time.monotonic()
        first = self.suspects.setdefault(task_id, now)
        return first < now and now - first >= self.grace_seconds

    async def _exists(self, task_id: str) -> bool:
        try:
            await self.kube.get(f"{self.tasks_path}/{task_id}")
        except NotFound:
            return False
        return True

    async def _settle_orphan(
        self, task_type: str, task_id: str, record: dict[str, str | None], report: SweepReport
    ) -> None:
        self.suspects.pop(task_id, None)
        if record["status"] == "pending" and not record["bridged_at"]:
            region = self.settings.region
            if await store.requeue_orphan(self.redis, task_type, task_id, region=region):
                log.warning("task %s was in no queue, lease or resource: requeued", task_id)
                report.requeued += 1
            return
        if record["source"] not in ("api", None):
            return  # not ours to finish: a kubectl task's record belongs to the operator
        await record_lost(self.redis, task_id, task_type, record, self.settings)
        report.failed += 1
