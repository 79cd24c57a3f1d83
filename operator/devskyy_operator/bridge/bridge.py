"""The claim -> create -> release loop, per task type, inside a bounded window.

Each cycle, per type: return expired leases to the queue, count the CRs still
waiting for admission (from the informer), claim `window - waiting` of the best
queued ids under a lease, create their CRs concurrently and release the leases
of those that exist. A transient failure keeps the lease: the create is retried
while the lease is still held, and a crash leaves it to expire and be
re-claimed; Kubernetes name uniqueness makes every retry idempotent. Nothing
here assumes it is the only bridge: leases count against the window whichever
bridge holds them, so several bridges share one window (a CR another bridge
created shows up here when the watch delivers it, so until then they can
overshoot it by what was created in that moment).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Sequence

from devskyy_agents.models import TaskType
from devskyy_operator import keys
from devskyy_operator.bridge import store
from devskyy_operator.bridge.cancels import execute_cancels
from devskyy_operator.bridge.creator import CreateResult, Outcome, create_task
from devskyy_operator.bridge.informer import TaskInformer
from devskyy_operator.bridge.invalid import record_invalid
from devskyy_operator.bridge.queue_metrics import publish_queue_metrics
from devskyy_operator.bridge.workflows import execute_workflow_requests
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.metrics import BRIDGE_CREATED_TOTAL
from devskyy_operator.redisq.claim import (
    ClaimedTask,
    claim,
    extend_lease,
    hand_back,
    reclaim_expired,
)
from devskyy_operator.redisq.scripts import Redis
from devskyy_operator.settings import Settings

log = logging.getLogger("devskyy.bridge")
ALL_TYPES = tuple(t.value for t in TaskType)
MAX_BACKOFF_SECONDS = 10.0
CREATE_CONCURRENCY = 32


class Bridge:
    """One bridge process's loop; `held` are claims whose create must be retried."""

    def __init__(
        self,
        kube: KubeClient,
        redis: Redis,
        settings: Settings,
        informer: TaskInformer,
        task_types: Sequence[str] = ALL_TYPES,
    ) -> None:
        self.kube = kube
        self.redis = redis
        self.settings = settings
        self.informer = informer
        self.task_types = tuple(task_types)
        self.tasks_path = resource_path(keys.API_VERSION, keys.PLURAL, settings.namespace)
        self.held: dict[str, list[ClaimedTask]] = {t: [] for t in self.task_types}
        self.unreleased: list[ClaimedTask] = []  # CR exists; the release did not reach Redis
        self.in_flight: list[ClaimedTask] = []  # claims of the cycle in progress
        self.failures = 0
        self.host = socket.gethostname()
        self.region = settings.region  # claims only this region's queues (None: the seed's)
        self._limit = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def run(self, stop: asyncio.Event) -> None:
        """Cycle until `stop`; a cycle in progress finishes its creates and releases."""
        await _wait_any(stop, self.informer.synced)
        while not stop.is_set():
            self.informer.changed.clear()
            progressed = False
            try:
                progressed = await self._cycle_within_grace(stop)
            except Exception as exc:
                self.failures += 1
                log.warning("bridge cycle failed (%s: %s)", type(exc).__name__, exc)
            interval = self.settings.bridge_interval_seconds
            if self.failures:  # back off; window changes do not cut it short
                await _wait_any(stop, timeout=min(interval * 2**self.failures, MAX_BACKOFF_SECONDS))
            elif not progressed:  # idle: a CR leaving the window wakes us early
                await _wait_any(stop, self.informer.changed, timeout=interval)

    async def _cycle_within_grace(self, stop: asyncio.Event) -> bool:
        """One cycle; once `stop` is set it has `bridge_stop_grace_seconds` left."""
        cycle = asyncio.ensure_future(self.cycle(stop))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait([cycle, stopping], return_when=asyncio.FIRST_COMPLETED)
            if not cycle.done():
                await asyncio.wait([cycle], timeout=self.settings.bridge_stop_grace_seconds)
        finally:
            stopping.cancel()
        if not cycle.done():
            cycle.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await cycle
            log.info("stopping: cycle cut short after %ss", self.settings.bridge_stop_grace_seconds)
            return False
        return cycle.result()

    async def hand_back(self) -> int:
        """On a clean stop: releases still owed, and every claim still held back to
        the queue at once (another bridge takes them now, not when the leases expire)."""
        if self.unreleased:
            await self._release(self.unreleased)
        pending = {t.task_id: t for t in self.in_flight}
        pending.update((t.task_id, t) for held in self.held.values() for t in held)
        self.in_flight, self.held = [], {t: [] for t in self.task_types}
        by_type: dict[str, list[str]] = {}
        for task in pending.values():
            by_type.setdefault(task.task_type, []).append(task.task_id)
        ttl = self.settings.task_record_ttl_seconds
        for task_type, ids in by_type.items():
            await hand_back(self.redis, task_type, ids, record_ttl_seconds=ttl, region=self.region)
        return len(pending)

    async def cycle(self, stop: asyncio.Event) -> bool:
        """One pass over every type; True when something was created (go again at once)."""
        await self._release(self.unreleased)
        await execute_cancels(self.redis, self.kube, self.tasks_path, self.region)
        await execute_workflow_requests(self.redis, self.kube, self.settings.namespace)
        unavailable = created = 0
        for task_type in self.task_types:
            if stop.is_set():
                break
            await reclaim_expired(
                self.redis, task_type, record_ttl_seconds=self.settings.task_record_ttl_seconds,
                region=self.region,
            )  # fmt: skip
            batch = await self._still_held(task_type)
            # Window = CRs waiting for admission + ids leased by any bridge (ours in
            # `batch` included); the claim script enforces the lease part atomically.
            free = self.settings.bridge_window - self.informer.waiting(task_type)
            room = free - len(batch)
            if room > 0:
                fresh = await claim(
                    self.redis, task_type, room, self.settings.lease_seconds, max_leased=free,
                    region=self.region,
                )  # fmt: skip
                await store.index_claimed(self.redis, task_type, fresh, region=self.region)
                batch += fresh
            if not batch:
                continue
            self.in_flight = batch
            results = await asyncio.gather(*(self._create(t) for t in batch))
            created += await self._settle(task_type, results)
            self.in_flight = []
            unavailable += sum(r.outcome is Outcome.UNAVAILABLE for r in results)
        await publish_queue_metrics(self.redis, self.task_types, self.region)
        self.failures = self.failures + 1 if unavailable else 0
        return created > 0

    async def _create(self, task: ClaimedTask) -> CreateResult:
        async with self._limit:
            return await create_task(self.kube, self.tasks_path, task)

    async def _release(self, tasks: list[ClaimedTask]) -> None:
        """Release now; if Redis is unreachable, keep them for the next cycle."""
        self.unreleased = [t for t in self.unreleased if t not in tasks]
        try:
            await store.release_bridged(self.redis, tasks, region=self.region)
        except Exception:
            self.unreleased += tasks
            raise

    async def _still_held(self, task_type: str) -> list[ClaimedTask]:
        """Claims whose create failed earlier, if their lease is still ours (extended)."""
        held, self.held[task_type] = self.held[task_type], []
        kept = []
        for task in held:
            lease = self.settings.lease_seconds
            if await extend_lease(self.redis, task_type, task.task_id, lease, region=self.region):
                kept.append(task)
        return kept

    async def _settle(self, task_type: str, results: Sequence[CreateResult]) -> int:
        for result in results:
            if result.resource is not None and result.outcome is Outcome.CREATED:
                self.informer.observe(result.resource)
            if result.outcome is Outcome.INVALID:
                log.error("task %s rejected by the CRD: %s", result.task.task_id, result.message)
                await record_invalid(
                    self.redis, result.task, result.message, self.settings, self.host
                )
            elif result.outcome is Outcome.UNAVAILABLE:
                self.held[task_type].append(result.task)
        await self._release([r.task for r in results if r.outcome.releases])
        created = sum(r.outcome is Outcome.CREATED for r in results)
        if created:
            BRIDGE_CREATED_TOTAL.labels(task_type).inc(created)
        failed = [r for r in results if r.outcome is Outcome.UNAVAILABLE]
        if failed:
            log.warning(
                "%d %s creates failed (%s); leases kept, retrying",
                len(failed), task_type, failed[0].message,
            )  # fmt: skip
        return created


async def _wait_any(*events: asyncio.Event, timeout: float | None = None) -> None:
    """Return when one of `events` is set or `timeout` passed."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
