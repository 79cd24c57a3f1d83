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
from devskyy_operator.admission.shards import ShardView, shard_of
from devskyy_operator.controller.admission_loop import Admitter
from devskyy_operator.controller.decide import job_finished, retention_expired
from devskyy_operator.controller.index import TaskIndex
from devskyy_operator.controller.job_record import job_record, task_of_job
from devskyy_operator.controller.keyed_work import KeyedWork
from devskyy_operator.controller.pod_store import PodStore
from devskyy_operator.controller.pod_watch import PodWatch
from devskyy_operator.controller.reconciler import TaskReconciler
from devskyy_operator.controller.sla_timer import SlaTimer
from devskyy_operator.crd import conditions as cond
from devskyy_operator.crd.task_view import TaskView
from devskyy_operator.job.outcome import success_settling
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import NotFound
from devskyy_operator.kube.informer import Informer, object_key
from devskyy_operator.metrics import DLQ_SIZE
from devskyy_operator.redisq.scripts import Redis
from devskyy_operator.settings import Settings
from devskyy_operator.shutdown import wait_or_timeout

log = logging.getLogger("devskyy.operator")
RETENTION_SWEEP_SECONDS = 30.0


@dataclass
class Runtime:
    kube: KubeClient
    redis: Redis
    settings: Settings
    # The shards this replica acts on (all tasks unless sharded): see admission.shards.
    shards: ShardView = field(default_factory=ShardView)
    index: TaskIndex = field(default_factory=TaskIndex)
    locks: defaultdict[tuple[str, str], asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock)
    )

    # When each task was last reconciled (monotonic): resync skips recent ones.
    reconciled_at: dict[tuple[str, str], float] = field(default_factory=dict)
    # Finished Jobs (name -> uid), from the Job watch: what retention may delete,
    # known without listing every Job (a LIST of all retained Jobs every sweep).
    finished_jobs: dict[tuple[str, str], str] = field(default_factory=dict)
    # The decision-relevant part of every Job (metadata for ownership, status), as
    # the watch last delivered it: the resync decides on it without a LIST.
    jobs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # The task pods that left Pending, from the pod watch: a reconcile reads them there.
    pods: PodStore = field(default_factory=PodStore)

    def __post_init__(self) -> None:
        self.reconciler = TaskReconciler(self.kube, self.redis, self.settings)
        self.reconciler.pod_store = self.pods
        self.reconciler.on_patched = self._patched
        self.reconciler.on_deferred = self.index.defer
        self.admitter = Admitter(self.reconciler, self.index, self.shards)
        self.sla = SlaTimer(self.reconciler, self.index.tasks, self.shards.owns)
        self.catching_up: set[asyncio.Future[None]] = set()
        # Job events, coalesced per task: a run reads the newest Job when it starts.
        self.job_work: KeyedWork[tuple[str, str]] = KeyedWork(self._job_changed)
        self._stop = asyncio.Event()  # the resync loop's stop, once it runs

    def _patched(self, view: TaskView) -> None:
        """A status patch of ours went through: its answer is the newest version of
        the task, indexed and tracked now (its watch event is then skipped)."""
        self.index.written(view)
        self.sla.track(view)

    async def quiesce(self, shard: int) -> None:
        """Wait until nothing acts on `shard` any more (it was just dropped from
        `shards.owned`, so nothing new starts): the Job creations under way and
        every reconcile holding a lock of one of its tasks."""
        await asyncio.gather(*list(self.admitter.starting), return_exceptions=True)
        for (_, name), lock in list(self.locks.items()):
            if lock.locked() and shard_of(name, self.shards.shards) == shard:
                async with lock:
                    pass

    def catch_up(self, shard: int) -> None:
        """A shard taken while running: reconcile its unfinished tasks now (a resync
        of that shard), rather than on the next resync period."""
        future = asyncio.ensure_future(self.resync(time.monotonic(), self._stop, shard))
        self.catching_up.add(future)
        future.add_done_callback(self.catching_up.discard)
        self.admitter.wake.set()

    def forget(self, namespace: str, name: str) -> None:
        """A task is gone: drop everything held about it (bounded memory)."""
        self.index.remove(namespace, name)
        self.sla.forget(namespace, name)
        self.reconciled_at.pop((namespace, name), None)
        self.pods.forget(namespace, name)
        lock = self.locks.get((namespace, name))
        if lock is not None and not lock.locked():
            del self.locks[(namespace, name)]

    async def reconcile_by_name(self, namespace: str, name: str) -> None:
        """Fetch the task fresh and reconcile it (one at a time per task)."""
        async with self.locks[(namespace, name)]:
            if not self.shards.owns(name):
                return  # another replica's shard
            self.reconciled_at[(namespace, name)] = time.monotonic()
            try:
                body = await self.kube.get(TaskReconciler.task_path(namespace, name))
            except NotFound:
                return
            await self.reconciler.reconcile(body)

    async def reconcile_with_job(
        self, namespace: str, name: str, job: dict[str, Any] | None, look_at_pods: bool = False
    ) -> None:
        """A Job event: decide with the Job from the event and the task from the
        index (both fed by watches); read the task fresh only when the index has
        not yet seen it admitted."""
        async with self.locks[(namespace, name)]:
            if not self.shards.owns(name):
                return  # another replica's shard
            task = self.index.tasks.get((namespace, name))
            phase = task.phase if task is not None else None
            if phase in cond.WAITING_PHASES and (namespace, name) in self.index.inflight:
                return  # being admitted: its Running write is under way; later events decide
            self.reconciled_at[(namespace, name)] = time.monotonic()
            if task is None or phase in cond.WAITING_PHASES:
                try:
                    body = await self.kube.get(TaskReconciler.task_path(namespace, name))
                except NotFound:
                    return
                await self.reconciler.reconcile(body, job=job, look_at_pods=look_at_pods)
                return
            await self.reconciler.reconcile_view(task, job=job, look_at_pods=look_at_pods)

    async def reconcile_pod_problem(self, namespace: str, name: str) -> None:
        """A pod of the task failed with a problem (OOM kill, own-storage eviction):
        decide on its pods now, unless the task already ended."""
        task = self.index.tasks.get((namespace, name))
        if task is None or task.phase in cond.TERMINAL_PHASES:
            return
        await self.reconcile_with_job(namespace, name, self.jobs.get((namespace, name)), True)

    async def pod_watch_loop(self, stop: asyncio.Event) -> None:
        """Watch the task pods into `pods`; a pod problem reconciles its task at once."""
        timeout = self.settings.watch_timeout_seconds
        watch = PodWatch(
            self.kube, self.settings.namespace, timeout, self.pods, self.reconcile_pod_problem
        )
        await watch.run_until(stop)

    async def resync_loop(self, stop: asyncio.Event) -> None:
        """Level-based safety net: reconcile every unfinished task periodically."""
        self._stop = stop
        while not await wait_or_timeout(stop, self.settings.resync_seconds):
            try:
                await self.resync(time.monotonic() - self.settings.resync_seconds, stop)
            except Exception:
                log.exception("resync failed")
            if self.shards.leads_singletons:  # a cluster-wide gauge: one replica sets it
                with contextlib.suppress(Exception):
                    DLQ_SIZE.set(await self.redis.zcard(keys.DLQ_INDEX))
        await asyncio.gather(*list(self.catching_up), return_exceptions=True)

    async def resync(self, horizon: float, stop: asyncio.Event, shard: int | None = None) -> None:
        """Admitted tasks not reconciled since `horizon`, decided on the Jobs and
        task bodies the watches delivered (a GET of task and Job per task was 10 %
        of the operator's CPU with a few hundred tasks running; one LIST of all
        Jobs per period still 12 %). A Job the watch has not shown is read.
        Only the tasks of the shards held (of `shard` alone, if given)."""
        due, new = [], []
        for task in self.index.all():
            key = (task.namespace, task.name)
            if not self.shards.owns(task.name) or (
                shard is not None and shard_of(task.name, self.shards.shards) != shard
            ):
                continue
            if self.reconciled_at.get(key, 0.0) > horizon or task.phase in cond.TERMINAL_PHASES:
                continue
            if task.phase not in cond.WAITING_PHASES:
                due.append(task)
            elif (
                not task.phase and key not in self.index.deferred and key not in self.index.inflight
            ):
                new.append(task)  # its first reconcile failed (Redis down?): again
        for task in new:
            if stop.is_set():
                return  # the rest is level-based: the next leader resyncs it
            try:
                await self.reconcile_by_name(task.namespace, task.name)
            except Exception:
                log.exception("resync of %s failed", task.name)
        if not due:
            return
        for task in due:
            if stop.is_set():
                return
            key = (task.namespace, task.name)
            try:
                await self.reconcile_with_job(task.namespace, task.name, self.jobs.get(key))
            except Exception:
                log.exception("resync of %s failed", task.name)

    async def retention_loop(self, stop: asyncio.Event) -> None:
        """Delete finished Jobs once their outcome is recorded and retention passed."""
        while not await wait_or_timeout(stop, RETENTION_SWEEP_SECONDS):
            if not self.shards.leads_singletons:
                continue  # cluster-wide work: shard 0's holder does it
            try:
                await self.sweep_finished_jobs(datetime.now(UTC))
            except Exception:
                log.exception("job retention sweep failed")

    async def sweep_stranded_jobs(self, now: datetime) -> int:
        """Delete unfinished Jobs of tasks whose failure is recorded: a failure decided
        while the Job would run on (decide.fail_now) deletes its Job right after the
        status write, and this finishes the work of an operator that stopped between."""
        deleted = 0
        for key, job in list(self.jobs.items()):
            task = self.index.tasks.get(key)
            if key in self.finished_jobs or not retention_expired(
                task, now, RETENTION_SWEEP_SECONDS
            ):
                continue
            uid = str(job["metadata"].get("uid") or "")
            await self.kube.delete(
                resource_path("batch/v1", "jobs", *key),
                propagation="Background",
                preconditions={"uid": uid} if uid else None,
            )
            self.jobs.pop(key, None)
            deleted += 1
        return deleted

    async def job_loop(self, stop: asyncio.Event) -> None:
        """Watch the operator's Jobs (ours, by label) until `stop`, then finish the
        reconciles under way."""
        informer = Informer(
            self.kube, resource_path("batch/v1", "jobs", self.settings.namespace), self.job_event,
            timeout_seconds=self.settings.watch_timeout_seconds, name="job",
            labelSelector=f"{keys.LABEL_MANAGED_BY}={keys.MANAGED_BY}",
        )  # fmt: skip
        await informer.run_until(stop)
        await self.job_work.drain()

    def job_event(self, event_type: str, job: dict[str, Any]) -> None:
        """A Job watch event: keep what the decisions read; reconcile its task if that
        changed (a Job event that changes only what no decision reads costs nothing)."""
        key = object_key(job)
        if event_type == "DELETED":
            self.finished_jobs.pop(key, None)
            self.jobs.pop(key, None)
        else:
            record = job_record(job)
            if self.jobs.get(key) == record:
                return
            self.jobs[key] = record
            if job_finished(record):
                self.finished_jobs[key] = str(record["metadata"].get("uid"))
            elif success_settling(record):
                return  # the Job controller's next write decides (`success_settling`)
        self.job_work.submit(task_of_job(job))

    async def _job_changed(self, key: tuple[str, str]) -> None:
        # A Job that is gone (None): let the reconcile look again.
        await self.reconcile_with_job(key[0], key[1], self.jobs.get(key))

    async def sweep_finished_jobs(self, now: datetime) -> int:
        deleted = await self.sweep_stranded_jobs(now)
        for key, uid in list(self.finished_jobs.items()):
            task = self.index.tasks.get(key)
            if not retention_expired(task, now, self.settings.job_retention_seconds):
                continue
            await self.kube.delete(
                resource_path("batch/v1", "jobs", *key),
                propagation="Background",
                preconditions={"uid": uid},
            )
            self.finished_jobs.pop(key, None)
            deleted += 1
        return deleted
