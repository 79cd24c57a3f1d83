"""Level-based reconciliation of one task: the Job is the truth, status follows it.

This module does the I/O; `decide.py` decides. Every call reads the Job and its
pods from the API server (not from a cache), so missed events, restarts and
replays change nothing: the same inputs give the same plan, and its writes are
idempotent (terminal Redis status is never overwritten; the DLQ record is SET
NX). Admission lives in `admission_loop`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from devskyy_agents.clock import utc_iso
from devskyy_agents.logs import task_context
from devskyy_operator import keys
from devskyy_operator.controller import decide as d
from devskyy_operator.controller.events import post_event
from devskyy_operator.crd import conditions as cond
from devskyy_operator.crd.conditions import REASON_CANCELLED, TERMINAL_PHASES
from devskyy_operator.crd.status import TaskStatus
from devskyy_operator.crd.task_view import (
    TaskIdentity,
    TaskView,
    parse_time,
    task_ref_from_body,
    task_view_from_body,
)
from devskyy_operator.deadletter.final_failure import record_final_failure
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import Conflict, NotFound
from devskyy_operator.metrics import RESOURCE_SECONDS, TASK_DURATION, TASKS_TOTAL
from devskyy_operator.redisq import task_store
from devskyy_operator.redisq.records import TERMINAL_STATUSES
from devskyy_operator.redisq.scripts import Redis
from devskyy_operator.settings import Settings

log = logging.getLogger("devskyy.operator")
# Set only with a terminal phase: cleared when a terminal status was not ours.
_OUTCOME_FIELDS = ("completedAt", "result", "exitCode", "errorType", "deadLetteredAt", "message")
_OUTCOME_CONDITIONS = frozenset({cond.TYPE_SUCCEEDED, cond.TYPE_FAILED, cond.TYPE_DEAD_LETTERED})


class TaskReconciler:
    """Drives one task from its Job. Shared by the kopf handlers and the admission loop."""

    def __init__(self, kube: KubeClient, redis: Redis, settings: Settings):
        self.kube = kube
        self.redis = redis
        self.settings = settings
        # Told about every task body a status patch returns, so a Job event that
        # follows at once need not read the task again.
        self.on_patched: Callable[[dict[str, Any]], None] | None = None
        # Given a new task's Queued status that the next admission round writes
        # only if it does not admit the task (None: written at once).
        self.on_deferred: Callable[[TaskIdentity, TaskStatus], None] | None = None

    # ----------------------------------------------------------------- API paths

    @staticmethod
    def task_path(namespace: str, name: str, sub: str | None = None) -> str:
        return resource_path(keys.API_VERSION, keys.PLURAL, namespace, name, sub)

    @staticmethod
    def job_path(namespace: str, name: str | None = None) -> str:
        return resource_path("batch/v1", "jobs", namespace, name)

    async def patch_status(self, task: TaskIdentity, status: TaskStatus) -> bool:
        """The one status writer: patch only if the task is unchanged since it was read.

        The resourceVersion precondition makes a decision taken on a stale view
        fail with 409 instead of overwriting a newer status; the next
        reconcile decides again on fresh data. False when skipped.
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
            return False
        if self.on_patched is not None:
            self.on_patched(updated)
        return True

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
        self, body: Mapping[str, Any], job: Mapping[str, Any] | None = None
    ) -> None:
        """Read what the decision needs, decide, carry the plan out.

        `job` may be handed in from a Job watch event (saves a GET); otherwise it
        is read from the apiserver. A Job that looks gone is confirmed on a fresh
        read of the task, never on a possibly stale event body: a task being
        deleted took its Job with it (a cancellation), anything else is JobDeleted.
        """
        now = datetime.now(UTC)
        try:
            task = task_view_from_body(body)
        except ValidationError as exc:
            await self.run(d.invalid(body, exc, now, self.settings), task_ref_from_body(body))
            return
        if task.phase in TERMINAL_PHASES:
            await self.verify_outcome(task, job)
            return
        if d.needs_job(task):
            if job is None:
                job = await self.get_job(task)
            if job is None:
                fresh = await self.get_task(task)
                if d.task_is_gone(fresh, task.uid):
                    await self.cancelled(body)
                    return
                assert fresh is not None  # task_is_gone(None) is True
                task = task_view_from_body(fresh)
                job = await self.get_job(task)
        pods: list[dict[str, Any]] = []
        if d.wants_pods(task, job):
            pods = await self.kube.list(
                resource_path("v1", "pods", task.namespace),
                labelSelector=f"batch.kubernetes.io/job-name={task.name}",
            )
        await self.run(d.decide(task, job, pods, now, self.settings), task)

    async def cancelled(self, body: Mapping[str, Any]) -> None:
        """The task resource was deleted (watch event or a fresh read)."""
        await self.run(d.deleted(body), task_ref_from_body(body))

    async def refuse(self, body: Mapping[str, Any], problems: str) -> None:
        """Fail a task over the current limits (InvalidSpec, no Job)."""
        plan = d.refused(body, problems, datetime.now(UTC), self.settings)
        await self.run(plan, task_ref_from_body(body))

    # ----------------------------------------------------------------- forged outcomes

    async def verify_outcome(self, task: TaskView, job: Mapping[str, Any] | None) -> None:
        """A terminal status is the operator's only if the task's Redis record is
        terminal too: every outcome the operator records goes to Redis before the
        status. One that is not (a status patch by an admin or another
        controller) is undone: the outcome fields go, the phase becomes what the
        Job says (Running when admitted, none when not), and the task is
        reconciled from there, with a Warning event. An admitted task whose Job
        is gone leaves nothing to reconcile from: its status is kept and the
        record made to agree. A missing record (expired after
        task_record_ttl_seconds, or never written) is left alone."""
        recorded = await task_store.record_status(self.redis, task.name)
        if recorded is None or recorded in TERMINAL_STATUSES:
            return
        if job is None:
            job = await self.get_job(task)
        if job is not None and not d.owned_by(job, task.uid):
            job = None
        admitted = job is not None or recorded == "processing" or bool(task.status.get("jobName"))
        if job is None and admitted:
            await self.record_status_as_outcome(task)
            return
        log.warning(
            "task %s: terminal phase %s was not written by the operator (record: %s); "
            "reconciling from the Job", task.name, task.phase, recorded,
        )  # fmt: skip
        kept = task.status.get("conditions") or ()
        conditions = [c for c in kept if c.get("type") not in _OUTCOME_CONDITIONS]
        undo: dict[str, Any] = dict.fromkeys(_OUTCOME_FIELDS)
        undo |= {
            "phase": cond.PHASE_RUNNING if admitted else None,
            "reason": cond.REASON_STATUS_OVERRIDDEN,
            "conditions": conditions,
        }
        body: dict[str, Any] = {"status": undo}
        if task.resource_version:  # decided on this view: a newer status wins
            body["metadata"] = {"resourceVersion": task.resource_version}
        try:
            updated = await self.kube.patch(
                self.task_path(task.namespace, task.name, "status"), body
            )
        except (NotFound, Conflict):
            return  # changed again meanwhile: the next event decides afresh
        if self.on_patched is not None:
            self.on_patched(updated)
        await post_event(
            self.kube, task, cond.REASON_STATUS_OVERRIDDEN,
            f"phase {task.phase} was not written by the operator (the task record says "
            f"{recorded}); status reconciled from the Job", warning=True,
        )  # fmt: skip
        await self.reconcile(updated, job)

    async def record_status_as_outcome(self, task: TaskView) -> None:
        """The record follows a terminal status that no Job can contradict any more."""
        status = task.status
        when = utc_iso(parse_time(status.get("completedAt")) or datetime.now(UTC))
        ttl = self.settings.task_record_ttl_seconds
        window = self.settings.throughput_window_seconds
        if task.phase == cond.PHASE_SUCCEEDED:
            result = json.dumps(status.get("result") or {}, separators=(",", ":"))
            await task_store.mark_completed(
                self.redis, task.name, result, when,
                record_ttl_seconds=ttl, throughput_window_seconds=window,
            )  # fmt: skip
        else:
            await task_store.mark_failed(
                self.redis, task.name, str(status.get("message") or ""),
                error_type=str(status.get("errorType") or task.phase), completed_at=when,
                reason=str(status.get("reason") or ""), attempts=int(status.get("attempts") or 0),
                record_ttl_seconds=ttl, throughput_window_seconds=window,
            )  # fmt: skip
        log.warning(
            "task %s: terminal phase %s without a Job; the task record now says so",
            task.name, task.phase,
        )  # fmt: skip
        await post_event(
            self.kube, task, cond.REASON_STATUS_OVERRIDDEN,
            f"phase {task.phase} was not recorded by the operator and the Job is gone; "
            "kept, and written to the task record", warning=True,
        )  # fmt: skip

    # ----------------------------------------------------------------- carrying out

    async def run(self, plan: d.Plan, task: TaskIdentity) -> None:
        """Records, then the one status write, then (only if it went through) the rest."""
        if plan.note:
            log.info("task %s: %s", task.name, plan.note)
        for record in plan.records:
            await self.write_record(task.name, record)
        if plan.deferrable and plan.status is not None and self.on_deferred is not None:
            self.on_deferred(task, plan.status)
            return
        if plan.status is not None and not await self.patch_status(task, plan.status):
            return  # a newer view exists; the next reconcile records it (idempotently)
        for action in plan.after:
            if isinstance(action, d.PostEvent):
                await post_event(self.kube, task, action.reason, action.message, action.warning)
            else:
                self.count_ended(task.name, action)

    async def write_record(self, task_id: str, action: d.RecordAction) -> None:
        settings = self.settings
        if isinstance(action, d.RecordFailure):
            await record_final_failure(self.redis, action.failure, settings)
        elif isinstance(action, d.MarkProcessing):
            await task_store.mark_processing(
                self.redis, task_id, utc_iso(action.started_at), action.worker_host,
                action.attempts,
            )  # fmt: skip
        elif isinstance(action, d.MarkCompleted):
            await task_store.mark_completed(
                self.redis, task_id, json.dumps(action.result, separators=(",", ":")),
                utc_iso(action.completed_at), record_ttl_seconds=settings.task_record_ttl_seconds,
                throughput_window_seconds=settings.throughput_window_seconds,
            )  # fmt: skip
        elif isinstance(action, d.MarkCancelled):
            written = await task_store.mark_failed(
                self.redis, task_id, "", error_type=REASON_CANCELLED, completed_at=utc_iso(),
                reason=REASON_CANCELLED, cancelled=True,
                record_ttl_seconds=settings.task_record_ttl_seconds,
                throughput_window_seconds=settings.throughput_window_seconds,
            )  # fmt: skip
            if written is task_store.WriteOutcome.OK:
                TASKS_TOTAL.labels(action.task_type, "cancelled").inc()
        else:
            await task_store.ensure_record(
                self.redis, task_id, action.spec,
                created_at=utc_iso(action.created_at), source=action.source,
            )  # fmt: skip

    def count_ended(self, task_id: str, ended: d.TaskEnded) -> None:
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
        with task_context(task_id, kind, ended.user_id):
            status_word = "success" if ended.succeeded else "failed"
            log.info("Task %s completed (status: %s)", task_id, status_word)
