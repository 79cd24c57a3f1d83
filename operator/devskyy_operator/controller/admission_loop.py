"""Admission: start the best waiting tasks while their type has free slots.

One loop per active operator (leader election makes that one per cluster). It
decides over the in-memory index (pure `admission.admit`), creates one Job per
admitted task and marks the task Running. A sharded operator admits only the
tasks of the shards it holds, each shard within its part of every limit
(`admission.shards.shard_limits`), counted over that shard's tasks. Job names equal task names, so a
retried or duplicated create gets 409 and adopts only a Job owned by the task.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Coroutine, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from devskyy_agents.clock import utc_iso
from devskyy_agents.logs import task_context
from devskyy_agents.models import TaskType
from devskyy_operator import keys
from devskyy_operator.admission import sla
from devskyy_operator.admission.limits import describe, resource_problems
from devskyy_operator.admission.policy import admit, is_due, open_kinds
from devskyy_operator.admission.shards import (
    ShardView,
    admit_in_shards,
    in_shard,
    open_kinds_in_shards,
)
from devskyy_operator.admission.tiers import tier_limits
from devskyy_operator.controller.decide import owned_by
from devskyy_operator.controller.index import TaskIndex
from devskyy_operator.controller.reconciler import TaskReconciler, count_sla
from devskyy_operator.controller.statuses import admitted_status
from devskyy_operator.crd.task_view import TaskView
from devskyy_operator.job.builder import build_job
from devskyy_operator.kube.client import ApiError
from devskyy_operator.metrics import ADMISSION_WAIT, READY_BACKLOG, RUNNING_TASKS, WAITING_TASKS
from devskyy_operator.redisq import task_store
from devskyy_operator.shutdown import wait_or_timeout

log = logging.getLogger("devskyy.operator")
# Job starts in flight (a create and a status write each, ~2 round trips): with
# 32 the admission of a backlog waited on the apiserver's latency, not its CPU.
START_CONCURRENCY = 64


class Admitter:
    def __init__(
        self,
        reconciler: TaskReconciler,
        index: TaskIndex,
        shards: ShardView | None = None,
        interval: float = 2.0,
    ):
        self.reconciler = reconciler
        self.index = index
        self.shards = shards if shards is not None else ShardView()
        self.interval = interval
        self.wake = asyncio.Event()
        self.stopping = False
        self.limit = asyncio.Semaphore(START_CONCURRENCY)
        self.starting: set[asyncio.Future[object]] = set()
        # The counts the gauges show: (running, waiting, waiting and not due) by type.
        self.published: tuple[dict[str, int], dict[str, int], Counter[str]] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Admit until `stop`; then finish the Job creations in flight and return.

        Tasks not started yet stay Queued: the next leader admits them."""
        stopper = asyncio.ensure_future(stop.wait())
        stopper.add_done_callback(lambda _: self._stop())
        try:
            while not stop.is_set():
                await wait_or_timeout(self.wake, self.interval)
                self.wake.clear()
                if stop.is_set():
                    break
                try:
                    self.round()
                except Exception:
                    log.exception("admission round failed; retrying")
        finally:
            stopper.cancel()
        await asyncio.gather(*self.starting, return_exceptions=True)

    def _stop(self) -> None:
        self.stopping = True  # no new starts, even from a round in progress
        self.wake.set()

    def round(self) -> None:
        """Decide, then start the chosen tasks in the background.

        A round does not wait for its starts: each chosen task holds its slot
        (index.mark_admitted) from the decision on, so the next round, woken by
        the next event, never double-books it and never waits behind a slow one.
        """
        now = datetime.now(UTC)
        if self.shards.leads_singletons:  # cluster-wide gauges: one replica sets them
            self.publish_gauges(now)
        if self.stopping:  # on SIGTERM, admit nothing more
            return
        for task in self.choose(now):
            self.index.mark_admitted(task)
            self._spawn(self._start_bounded(task, now))
        # New tasks that must wait (the chosen ones are in flight now, no longer
        # waiting): now they are written Queued (one write each).
        for task in self.index.held_back():
            if not self.shards.owns(task.name):
                continue
            queued = self.index.take_deferred(task)
            if queued is not None:
                self._spawn(self.reconciler.patch_status(task, queued))

    def choose(self, now: datetime) -> list[TaskView]:
        """The tasks to start now: per held shard, its waiting tasks within its part
        of every limit (one shard: all tasks within the whole limits).

        Only the waiting tasks of types with a free slot are candidates (the rest
        cannot be chosen): a round over a backlog whose slots are full is O(running),
        and otherwise O(the waiting tasks of the types that can start one)."""
        settings, count = self.reconciler.settings, self.shards.shards
        limits = settings.concurrency
        if count == 1:
            running_now = self.index.running_by_type()
            return admit(
                self._candidates(open_kinds(limits, running_now)),
                running_now, limits, now,
                tier_caps=tier_limits(limits, settings.tiers),
                running_by_tier=self.index.running_by_type_and_tier(),
            )  # fmt: skip
        held = set(self.shards.owned)
        running = {
            shard: self.index.running_by_type(partial(in_shard, shard=shard, shards=count))
            for shard in held
        }
        by_tier = {
            shard: self.index.running_by_type_and_tier(partial(in_shard, shard=shard, shards=count))
            for shard in held
        }
        return admit_in_shards(
            self._candidates(open_kinds_in_shards(limits, running, held, count)),
            running,
            limits,
            held,
            count,
            now,
            tiers=settings.tiers,
            running_by_tier=by_tier,
        )

    def _candidates(self, kinds: Iterable[str]) -> list[TaskView]:
        """The waiting tasks of `kinds` in the shards held."""
        return [t for t in self.index.waiting(kinds) if self.shards.owns(t.name)]

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        future = asyncio.ensure_future(work)
        self.starting.add(future)
        future.add_done_callback(self.starting.discard)

    async def _start_bounded(self, task: TaskView, now: datetime) -> bool:
        async with self.limit:
            if self.stopping or not self.shards.owns(task.name):
                # Stopped while waiting for a start slot: it stays Queued and the
                # next leader admits it, rather than the stop waiting for it.
                started = False
            else:
                try:
                    started = await self.start(task, now)
                except Exception:
                    log.exception("admission of %s failed; it stays queued", task.name)
                    started = False
        if not started:
            # The slot goes back; the next round (next event, at most `interval`
            # later) retries, so a persistent conflict cannot spin.
            self.index.release(task)
        return started

    def publish_gauges(self, now: datetime) -> None:
        """Per type: running, waiting, and waiting and due (only a task with an
        earliest start can be waiting and not due: those are counted off)."""
        running, waiting = self.index.running_by_type(), self.index.waiting_by_type()
        later = Counter(t.task_type.value for t in self.index.scheduled() if not is_due(t, now))
        counts = (running, waiting, later)
        if counts == self.published:
            return  # a round runs after nearly every event; most change none of these
        self.published = counts
        for kind in (t.value for t in TaskType):
            RUNNING_TASKS.labels(kind).set(running.get(kind, 0))
            WAITING_TASKS.labels(kind).set(waiting.get(kind, 0))
            READY_BACKLOG.labels(kind).set(waiting.get(kind, 0) - later[kind])

    async def start(self, task: TaskView, now: datetime) -> bool:
        """Create the Job and mark the task Running; False if it did not start.

        The resource maxima are checked again with the settings of now: they may
        have changed since the task was queued. A task over them fails without a
        Job (it keeps its slot until its Failed status is seen, a moment later).
        """
        kube = self.reconciler.kube
        problems = resource_problems(task.spec, self.reconciler.settings)
        if problems:
            await self.reconciler.refuse(task, describe(problems))
            return True
        if await self.reconciler.serve_from_cache(task, now):
            # An identical task succeeded while this one waited: no Job. It keeps
            # its slot until its Succeeded status is seen, a moment later.
            self.index.take_deferred(task)
            return True
        manifest = build_job(task, self.reconciler.settings, now)
        if self.shards.identity:  # which replica acted, on the Job it created
            annotations = manifest["metadata"].setdefault("annotations", {})
            annotations[keys.ANNOTATION_ADMITTED_BY] = self.shards.identity
        try:
            job, created = await kube.create_or_get(
                self.reconciler.job_path(task.namespace), manifest
            )
        except ApiError as exc:
            log.warning("job for %s not created: %s", task.name, exc)
            return False
        if not owned_by(job, task.uid):
            log.info("job %s exists for an older task of that name; waiting", task.name)
            return False
        objective = self.reconciler.settings.sla_for(task.task_type)
        verdict = sla.admission_verdict(task, now, objective)
        admitted = await self.reconciler.patch_status(task, admitted_status(task, now, verdict))
        if admitted:
            count_sla(task.name, task.task_type.value, verdict)
            self.index.take_deferred(task)
            container = manifest["spec"]["template"]["spec"]["containers"][0]
            await task_store.mark_admitted(
                self.reconciler.scripts, task.name, utc_iso(now), container.get("resources") or {}
            )
        if created and admitted:
            # No Event: the Admitted condition says it (one API write per task less).
            ADMISSION_WAIT.labels(task.task_type.value).observe(
                max(0.0, (now - task.queued_at).total_seconds())
            )
            with task_context(task.name, task.task_type.value, task.user_id):
                log.info("Processing task %s (type: %s)", task.name, task.task_type.value)
        return admitted
