"""Level-based reconciliation of one task: the Job is the truth, status follows it.

This module does the I/O; `decide.py` decides. Every call decides on the Job
and its pods as the watches delivered them, read from the API server when a
watch has not shown what the decision needs (no Job event yet; pods: see
`pod_records.suffices`), so missed events, restarts and replays change
nothing: the same inputs give the same plan, and its writes are idempotent
(terminal Redis status is never overwritten; the DLQ record is SET NX).
Admission lives in `admission_loop`.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from devskyy_agents.clock import utc_iso
from devskyy_agents.logs import task_context
from devskyy_operator import keys
from devskyy_operator.admission.sla import Verdict
from devskyy_operator.cache import store as result_cache
from devskyy_operator.cache.key import lookup_key, model_ref
from devskyy_operator.controller import decide as d
from devskyy_operator.controller import plan as p
from devskyy_operator.controller.events import post_event
from devskyy_operator.controller.forged import forged
from devskyy_operator.controller.pod_store import PodStore
from devskyy_operator.controller.refusals import invalid, refused_view
from devskyy_operator.cost.model import TaskCost
from devskyy_operator.crd import conditions as cond
from devskyy_operator.crd.status import TaskStatus
from devskyy_operator.crd.task_view import (
    TaskIdentity,
    TaskView,
    task_ref_from_body,
    task_view_from_body,
)
from devskyy_operator.deadletter.final_failure import record_final_failure
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import Conflict, NotFound
from devskyy_operator.metrics import (
    RESOURCE_SECONDS,
    RESULT_CACHE_HITS,
    RESULT_CACHE_MISSES,
    SLA_BREACHES_TOTAL,
    SLA_TASKS_TOTAL,
    TASK_COST,
    TASK_DURATION,
    TASKS_TOTAL,
)
from devskyy_operator.redisq import task_store
from devskyy_operator.redisq.batching import ScriptBatcher
from devskyy_operator.redisq.records import TERMINAL_STATUSES
from devskyy_operator.redisq.scripts import Redis
from devskyy_operator.settings import Settings

log = logging.getLogger("devskyy.operator")


class TaskReconciler:
    """Drives one task from its Job. Shared by the kopf handlers and the admission loop."""

    def __init__(self, kube: KubeClient, redis: Redis, settings: Settings):
        self.kube = kube
        self.redis = redis
        # The record writes (one script each) of reconciles and admissions that run
        # at once leave in one pipeline: a round trip costs more client CPU here
        # than the script costs Redis (`redisq.batching`).
        self.scripts = ScriptBatcher(redis)
        self.settings = settings
        # Told the view of every task a status patch returns (a valid spec's), so a
        # Job event that follows at once need not read the task again.
        self.on_patched: Callable[[TaskView], None] | None = None
        # Given a new task's Queued status that the next admission round writes
        # only if it does not admit the task (None: written at once).
        self.on_deferred: Callable[[TaskIdentity, TaskStatus], None] | None = None
        # The pods the pod watch delivered (`pod_watch.py`); None: always list.
        self.pod_store: PodStore | None = None

    # ----------------------------------------------------------------- API paths

    @staticmethod
    def task_path(namespace: str, name: str, sub: str | None = None) -> str:
        return resource_path(keys.API_VERSION, keys.PLURAL, namespace, name, sub)

    @staticmethod
    def job_path(namespace: str, name: str | None = None) -> str:
        return resource_path("batch/v1", "jobs", namespace, name)

    async def patch_status(self, task: TaskIdentity, status: TaskStatus) -> bool:
        """Write `status` (the admission loop's write); False when skipped."""
        return await self._patch(task, status) is not None

    async def _patch(self, task: TaskIdentity, status: TaskStatus) -> dict[str, Any] | None:
        """The one status writer: patch only if the task is unchanged since it was read.

        The resourceVersion precondition makes a decision taken on a stale view
        fail with 409 instead of overwriting a newer status; the next
        reconcile decides again on fresh data. The patched task, None when skipped.
        """
        stamped = status.updated(observed_generation=task.generation)
        body: dict[str, Any] = {"status": stamped.patch()}
        if task.resource_version:
            body["metadata"] = {"resourceVersion": task.resource_version}
        try:
            updated = await self.kube.patch(
                self.task_path(task.namespace, task.name, "status"), body
            )
        except (NotFound, Conflict) as exc:
            log.debug("status of %s not patched: %s", task.name, exc.reason)
            return None
        if self.on_patched is not None:
            with contextlib.suppress(ValidationError):  # an invalid spec is never indexed
                known = task if isinstance(task, TaskView) else None
                self.on_patched(task_view_from_body(updated, known))
        return updated

    async def get_job(self, task: TaskView) -> dict[str, Any] | None:
        try:
            return await self.kube.get(self.job_path(task.namespace, task.name))
        except NotFound:
            return None

    async def get_task(self, task: TaskView) -> dict[str, Any] | None:
        try:
            return await self.kube.get(self.task_path(task.namespace, task.name))
        except NotFound:
            return None

    # ----------------------------------------------------------------- reconcile

    async def reconcile(
        self,
        body: Mapping[str, Any],
        job: Mapping[str, Any] | None = None,
        look_at_pods: bool = False,
    ) -> None:
        """`reconcile_view` of a task read as a body; a spec the models refuse
        fails the task (InvalidSpec) instead."""
        try:
            task = task_view_from_body(body)
        except ValidationError as exc:
            now = datetime.now(UTC)
            await self.run(invalid(body, exc, now, self.settings), task_ref_from_body(body))
            return
        await self.reconcile_view(task, job, look_at_pods)

    async def reconcile_view(
        self,
        task: TaskView,
        job: Mapping[str, Any] | None = None,
        look_at_pods: bool = False,
    ) -> None:
        """Read what the decision needs, decide, carry the plan out.

        `job` may be handed in from a Job watch event (saves a GET); otherwise it
        is read from the apiserver. `look_at_pods`: a pod of the task failed with a
        problem (`pod_watch.py`), so its pods are read whatever the Job says. A
        Job that looks gone is confirmed on a fresh read of the task, never on a
        possibly stale event body: a task being deleted took its Job with it (a
        cancellation), anything else is JobDeleted.
        """
        now = datetime.now(UTC)
        if task.phase in cond.TERMINAL_PHASES:
            await self.verify_outcome(task, job, now)
            return
        served = await self.from_cache(task, now)
        if served is not None:
            await self.run(served, task)
            return
        if d.needs_job(task):
            if job is None:
                job = await self.get_job(task)
            if job is None:
                fresh = await self.get_task(task)
                if d.task_is_gone(fresh, task.uid):
                    await self.run(d.deletion(task.phase, task.task_type.value), task)
                    return
                assert fresh is not None  # task_is_gone(None) is True
                task = task_view_from_body(fresh)
                job = await self.get_job(task)
        pods: list[dict[str, Any]] = []
        if job is not None and (look_at_pods or d.wants_pods(task, job, now, self.settings)):
            pods = await self.pods_of(task, job, now)
        await self.run(d.decide(task, job, pods, now, self.settings), task)

    async def pods_of(
        self, task: TaskView, job: Mapping[str, Any], now: datetime
    ) -> list[dict[str, Any]]:
        """The Job's pods: the pod watch's copies when they hold what the decision
        reads, else a LIST (the watch not synced yet, or behind the Job)."""
        store, uid = self.pod_store, str((job.get("metadata") or {}).get("uid") or "")
        held = None if store is None else store.pods_of(task.namespace, task.name, uid)
        if held is not None and d.watched_pods_suffice(task, job, held, now, self.settings):
            return held
        why = "watch behind the Job" if held is not None else "watch not synced"
        log.debug("task %s: pods listed (%s)", task.name, why)
        return await self.kube.list(
            resource_path("v1", "pods", task.namespace),
            labelSelector=f"batch.kubernetes.io/job-name={task.name}",
        )

    async def from_cache(
        self, task: TaskView, now: datetime, *, admitting: bool = False
    ) -> p.Plan | None:
        """The plan of a new cacheable task whose result is stored, else None (a
        miss is counted; the task goes on to be queued and run).

        `admitting`: the admission loop looks again just before it creates the
        Job, so a task queued behind an identical one that has since succeeded
        is served instead of run (a miss there is not counted again)."""
        policy = d.lookup_policy(task, self.settings, admitting=admitting)
        if policy is None:
            return None
        ref = model_ref(task.spec)
        latest = None
        if ref is not None and ref.pinned is None:
            latest = await result_cache.latest_model_version(self.redis, ref.model_id)
        digest = lookup_key(task.spec, latest)
        entry = None if digest is None else await result_cache.get_entry(self.redis, digest)
        if entry is None or not entry.fresh(now, policy.ttl_seconds):
            if not admitting:
                RESULT_CACHE_MISSES.labels(task.task_type.value).inc()
            return None
        return d.served_from_cache(task, entry, now)

    async def serve_from_cache(self, task: TaskView, now: datetime) -> bool:
        """Admission's last look: True when the task was served (its Succeeded
        status written), so no Job is to be created."""
        plan = await self.from_cache(task, now, admitting=True)
        return plan is not None and await self.run(plan, task) is not None

    async def verify_outcome(
        self, task: TaskView, job: Mapping[str, Any] | None, now: datetime
    ) -> None:
        """A terminal status is ours only if the task record is terminal too (every
        outcome goes to Redis first); `forged` decides when it is not. A missing
        record (expired, or never written) is left alone."""
        recorded = await task_store.record_status(self.redis, task.name)
        if recorded is None or recorded in TERMINAL_STATUSES:
            return
        if job is None:
            job = await self.get_job(task)
        plan = forged(task, recorded, job, now, self.settings)
        updated = await self.run(plan, task)
        if plan.reconcile_after and updated is not None:
            await self.reconcile(updated, job)

    async def refuse(self, task: TaskView, problems: str) -> None:
        """Fail a task no door should have let in (the admission loop's re-check)."""
        await self.run(refused_view(task, problems, datetime.now(UTC), self.settings), task)

    async def cancelled(self, body: Mapping[str, Any]) -> None:
        """The task resource was deleted (watch event or a fresh read)."""
        await self.run(d.deleted(body), task_ref_from_body(body))

    # ----------------------------------------------------------------- carrying out

    async def run(self, plan: p.Plan, task: TaskIdentity) -> dict[str, Any] | None:
        """Records, then the one status write, then (only if it went through) the rest.
        The patched task, when there was a status to write and it was written."""
        if plan.note:
            log.info("task %s: %s", task.name, plan.note)
        for record in plan.records:
            await self.write_record(task.name, record)
        if plan.deferrable and plan.status is not None and self.on_deferred is not None:
            self.on_deferred(task, plan.status)
            return None
        updated = None
        if plan.status is not None:
            updated = await self._patch(task, plan.status)
            if updated is None:
                return None  # a newer view exists; the next reconcile records it (idempotently)
        for action in plan.after:
            if isinstance(action, p.PostEvent):
                await post_event(self.kube, task, action.reason, action.message, action.warning)
            elif isinstance(action, p.SlaJudged):
                count_sla(task.name, action.task_type, action.verdict)
            elif isinstance(action, p.CountCacheHit):
                RESULT_CACHE_HITS.labels(action.task_type).inc()
            elif isinstance(action, p.DeleteJob):
                await self.delete_job(task, action.uid)
            else:
                self.count_ended(task.name, action)
        return updated

    async def delete_job(self, task: TaskIdentity, uid: str) -> None:
        """Delete the Job of that uid; its pods follow (Background propagation: the
        API's default for a Job would orphan them)."""
        with contextlib.suppress(NotFound, Conflict):  # gone, or a newer task's Job
            await self.kube.delete(
                self.job_path(task.namespace, task.name),
                propagation="Background",
                preconditions={"uid": uid} if uid else None,
            )

    async def write_record(self, task_id: str, action: p.RecordAction) -> None:
        settings = self.settings
        if isinstance(action, p.RecordFailure):
            await record_final_failure(self.redis, action.failure, settings, self.kube)
        elif isinstance(action, p.MarkProcessing):
            await task_store.mark_processing(
                self.scripts, task_id, utc_iso(action.started_at), action.worker_host,
                action.attempts, failed_attempts=action.failed_attempts,
                last_error=action.last_error, last_exit_code=action.last_exit_code,
            )  # fmt: skip
        elif isinstance(action, p.MarkCompleted):
            await task_store.mark_completed(
                self.scripts, task_id, json.dumps(action.result, separators=(",", ":")),
                utc_iso(action.completed_at), record_ttl_seconds=settings.task_record_ttl_seconds,
                throughput_window_seconds=settings.throughput_window_seconds, cost=action.cost,
                cost_retention_seconds=settings.cost.index_retention_seconds,
                cached_from=action.cached_from,
            )  # fmt: skip
        elif isinstance(action, p.StoreCachedResult):
            await result_cache.put_entry(
                self.redis, action.digest, action.entry, action.ttl_seconds
            )
        elif isinstance(action, p.RecordModelVersion):
            await result_cache.record_model_version(self.redis, action.model_id, action.version)
        elif isinstance(action, p.MarkCancelled):
            written = await task_store.mark_failed(
                self.scripts, task_id, "", error_type=cond.REASON_CANCELLED, completed_at=utc_iso(),
                reason=cond.REASON_CANCELLED, cancelled=True,
                record_ttl_seconds=settings.task_record_ttl_seconds,
                throughput_window_seconds=settings.throughput_window_seconds,
            )  # fmt: skip
            if written is task_store.WriteOutcome.OK:
                TASKS_TOTAL.labels(action.task_type, "cancelled").inc()
        else:
            await task_store.ensure_record(
                self.scripts, task_id, action.spec,
                created_at=utc_iso(action.created_at), source=action.source, tier=action.tier,
            )  # fmt: skip

    def count_ended(self, task_id: str, ended: p.TaskEnded) -> None:
        """Success counter (failures count where they are recorded), duration, cost."""
        kind = ended.task_type
        if ended.succeeded:
            TASKS_TOTAL.labels(kind, "success").inc()
        if ended.run_seconds is not None:
            TASK_DURATION.labels(kind).observe(ended.run_seconds)
            for resource, amount in ended.requests.items():
                if amount:
                    RESOURCE_SECONDS.labels(kind, ended.user_id, resource).inc(
                        amount * ended.run_seconds
                    )
        if ended.cost is not None:
            count_cost(kind, ended.cost)
        with task_context(task_id, kind, ended.user_id):
            status_word = "success" if ended.succeeded else "failed"
            log.info("Task %s completed (status: %s)", task_id, status_word)


def count_sla(task_id: str, task_type: str, verdict: Verdict) -> None:
    """Objectives decided by a status write that went through: counted once each."""
    for name in verdict.judged:
        SLA_TASKS_TOTAL.labels(task_type, name).inc()
    for miss in verdict.missed:
        SLA_BREACHES_TOTAL.labels(task_type, miss.objective).inc()
    if verdict.missed:
        misses = "; ".join(m.describe() for m in verdict.missed)
        log.info("task %s (%s) missed its SLA: %s", task_id, task_type, misses)


def count_cost(task_type: str, cost: TaskCost) -> None:
    """devskyy_task_cost_total per type and component (resource, each provider)."""
    TASK_COST.labels(task_type, "resource", cost.currency).inc(float(Decimal(cost.resource)))
    for line in cost.provider_lines:
        TASK_COST.labels(task_type, line.provider, cost.currency).inc(float(Decimal(line.amount)))
