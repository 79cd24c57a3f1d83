"""What one running operator holds: clients, the index, the loops. Built once at startup."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devskyy_operator import keys
from devskyy_operator.controller.admission_loop import Admitter
from devskyy_operator.controller.decide import retention_expired
from devskyy_operator.controller.index import TaskIndex
from devskyy_operator.controller.reconciler import TaskReconciler
from devskyy_operator.crd import conditions as cond
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import NotFound
from devskyy_operator.metrics import DLQ_SIZE
from devskyy_operator.redisq.scripts import Redis
from devskyy_operator.settings import Settings

log = logging.getLogger("devskyy.operator")
RETENTION_SWEEP_SECONDS = 30.0


@dataclass
class Runtime:
    kube: KubeClient
    redis: Redis
    settings: Settings
    index: TaskIndex = field(default_factory=TaskIndex)
    locks: defaultdict[tuple[str, str], asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock)
    )

    # When each task was last reconciled (monotonic): resync skips recent ones.
    reconciled_at: dict[tuple[str, str], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reconciler = TaskReconciler(self.kube, self.redis, self.settings)
        self.reconciler.on_patched = self.index.remember_body
        self.reconciler.on_deferred = self.index.defer
        self.admitter = Admitter(self.reconciler, self.index)

    def forget(self, namespace: str, name: str) -> None:
        """A task is gone: drop everything held about it (bounded memory)."""
        self.index.remove(namespace, name)
        self.reconciled_at.pop((namespace, name), None)
        lock = self.locks.get((namespace, name))
        if lock is not None and not lock.locked():
            del self.locks[(namespace, name)]

    async def reconcile_by_name(self, namespace: str, name: str) -> None:
        """Fetch the task fresh and reconcile it (one at a time per task)."""
        async with self.locks[(namespace, name)]:
            self.reconciled_at[(namespace, name)] = time.monotonic()
            try:
                body = await self.kube.get(TaskReconciler.task_path(namespace, name))
            except NotFound:
                return
            await self.reconciler.reconcile(body)

    async def reconcile_with_job(
        self, namespace: str, name: str, job: dict[str, Any] | None
    ) -> None:
        """A Job event: decide with the Job from the event and the task from the
        index (both fed by watches); read the task fresh only when the index has
        not yet seen it admitted."""
        async with self.locks[(namespace, name)]:
            self.reconciled_at[(namespace, name)] = time.monotonic()
            body = self.index.bodies.get((namespace, name))
            phase = ((body or {}).get("status") or {}).get("phase")
            if body is None or phase in cond.WAITING_PHASES:
                try:
                    body = await self.kube.get(TaskReconciler.task_path(namespace, name))
                except NotFound:
                    return
            await self.reconciler.reconcile(body, job=job)

    async def resync_loop(self, stop: asyncio.Event) -> None:
        """Level-based safety net: re-read every unfinished task periodically."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.resync_seconds)
            horizon = time.monotonic() - self.settings.resync_seconds
            for task in list(self.index.all()):
                if task.phase in cond.TERMINAL_PHASES or task.phase == cond.PHASE_QUEUED:
                    continue
                if self.reconciled_at.get((task.namespace, task.name), 0.0) > horizon:
                    continue  # a Job event just did it: the resync is only a safety net
                try:
                    await self.reconcile_by_name(task.namespace, task.name)
                except Exception:
                    log.exception("resync of %s failed", task.name)
            with contextlib.suppress(Exception):
                DLQ_SIZE.set(await self.redis.zcard(keys.DLQ_INDEX))

    async def retention_loop(self, stop: asyncio.Event) -> None:
        """Delete finished Jobs once their outcome is recorded and retention passed."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETENTION_SWEEP_SECONDS)
            try:
                await self.sweep_finished_jobs(datetime.now(UTC))
            except Exception:
                log.exception("job retention sweep failed")

    async def sweep_finished_jobs(self, now: datetime) -> int:
        jobs = await self.kube.list(
            resource_path("batch/v1", "jobs", self.settings.namespace),
            labelSelector=f"{keys.LABEL_MANAGED_BY}={keys.MANAGED_BY}",
        )
        deleted = 0
        for job in jobs:
            meta = job["metadata"]
            task = self.index.tasks.get((meta["namespace"], meta["name"]))
            if not retention_expired(task, now, self.settings.job_retention_seconds):
                continue
            await self.kube.delete(
                resource_path("batch/v1", "jobs", meta["namespace"], meta["name"]),
                propagation="Background",
                preconditions={"uid": meta["uid"]},
            )
            deleted += 1
        return deleted
