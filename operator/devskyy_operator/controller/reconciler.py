"""Level-based reconciliation of one task: the Job is the truth, status follows it.

Every call reads the Job and its pods from the API server (not from a cache), so
missed events, restarts and replays change nothing: the same inputs give the
same status, and outcome writes are idempotent (terminal Redis status is never
overwritten; the DLQ record is SET NX). Admission lives in `admission_loop`.
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
from devskyy_operator.admission.limits import describe, limit_problems
from devskyy_operator.controller.events import post_event
from devskyy_operator.crd import conditions as cond
from devskyy_operator.crd.task_view import TaskView, parse_time, task_view_from_body
from devskyy_operator.deadletter.record import DeadLetterRecord, write_dead_letter
from devskyy_operator.job.outcome import Outcome, job_outcome
from devskyy_operator.job.resources import container_resources, parse_quantity
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import Conflict, NotFound
from devskyy_operator.metrics import (
    DEAD_LETTERS_TOTAL,
    ERRORS_TOTAL,
    RESOURCE_SECONDS,
    TASK_DURATION,
    TASKS_TOTAL,
)
from devskyy_operator.redisq import task_store
from devskyy_operator.redisq.records import TERMINAL_STATUSES
from devskyy_operator.redisq.scripts import Redis
from devskyy_operator.settings import Settings

log = logging.getLogger("devskyy.operator")
MAX_STATUS_RESULT_BYTES = 8 * 1024
# Set only with a terminal phase: cleared when a terminal status was not ours.
_OUTCOME_FIELDS = ("completedAt", "result", "exitCode", "errorType", "deadLetteredAt", "message")
_OUTCOME_CONDITIONS = frozenset({cond.TYPE_SUCCEEDED, cond.TYPE_FAILED, cond.TYPE_DEAD_LETTERED})


def _ts(moment: datetime | None) -> str | None:
    return utc_iso(moment, timespec="seconds") if moment else None


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid and ref.get("controller") for ref in refs)


class TaskReconciler:
    """Drives one task from its Job. Shared by the kopf handlers and the admission loop."""

    def __init__(self, kube: KubeClient, redis: Redis, settings: Settings):
        self.kube = kube
        self.redis = redis
        self.settings = settings
        # Told about every task body a status patch returns, so a Job event that
        # follows at once need not read the task again.
        self.on_patched: Callable[[dict[str, Any]], None] | None = None

    # ----------------------------------------------------------------- API paths

    @staticmethod
    def task_path(namespace: str, name: str, sub: str | None = None) -> str:
        return resource_path(keys.API_VERSION, keys.PLURAL, namespace, name, sub)

    @staticmethod
    def job_path(namespace: str, name: str | None = None) -> str:
        return resource_path("batch/v1", "jobs", namespace, name)

    async def patch_status(self, task: TaskView, status: Mapping[str, Any]) -> bool:
        """Patch status only if the task is unchanged since `task` was read.

        The resourceVersion precondition makes a decision taken on a stale view
        fail with 409 instead of overwriting a newer status; the next
        reconcile decides again on fresh data. False when skipped.
        """
        body: dict[str, Any] = {"status": {**status, "observedGeneration": task.generation}}
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

    # ----------------------------------------------------------------- reconcile

    async def reconcile(
        self, body: Mapping[str, Any], job: Mapping[str, Any] | None = None
    ) -> None:
        """Bring the task's status in line with its Job.

        `job` may be handed in from a Job watch event (saves a GET); otherwise
        it is read from the apiserver. Pods are listed only when their details
        matter: at the end (exit code, termination message) and when the first
        pod starts (the node name).
        """
        try:
            task = task_view_from_body(body)
        except ValidationError as exc:
            await self.reject_invalid(body, exc)
            return
        if task.phase in cond.TERMINAL_PHASES:
            await self.verify_outcome(task, job)
            return
        if task.phase is None:
            await self.enqueue(task, body)
            return
        if task.phase == cond.PHASE_QUEUED:
            return  # the admission loop owns Queued tasks (and adopts a Job left by a crash)
        if job is None:
            job = await self.get_job(task)
        if job is not None and not owned_by(job, task.uid):
            log.info("job %s belongs to an older task of the same name; waiting for GC", task.name)
            return
        if job is None:
            if task.phase == cond.PHASE_RUNNING or task.status.get("jobName"):
                await self.job_missing(task, body)
            return
        pods: list[dict[str, Any]] = []
        ready = int((job.get("status") or {}).get("ready") or 0)
        if _job_finished(job) or (ready > 0 and not task.status.get("workerHost")):
            pods = await self.kube.list(
                resource_path("v1", "pods", task.namespace),
                labelSelector=f"batch.kubernetes.io/job-name={task.name}",
            )
        outcome = job_outcome(job, pods)
        if outcome.terminal:
            await self.finish(task, outcome)
        else:
            await self.mark_running(task, outcome)

    async def enqueue(self, task: TaskView, body: Mapping[str, Any]) -> None:
        """A new task: a Redis record (also for kubectl-created tasks), phase Queued.

        A task over the limits of the current settings fails here instead
        (InvalidSpec, no Job): CEL has no clock for the schedule horizon, and the
        CRD's maxima are only the settings' when the chart wrote both.
        """
        await task_store.ensure_record(
            self.redis, task.name, task.spec, created_at=utc_iso(task.queued_at),
            source=task.annotations.get(keys.ANNOTATION_SOURCE, "kubectl"),
        )  # fmt: skip
        problems = limit_problems(task.spec, self.settings, task.queued_at)
        if problems:
            await self.refuse(body, describe(problems))
            return
        now = datetime.now(UTC)
        start = task.spec.scheduled_for()
        delayed = start is not None and start > now
        message = f"scheduled for {_ts(start)}" if delayed else "waiting for a concurrency slot"
        conditions = cond.set_condition(
            task.status.get("conditions"), type=cond.TYPE_ADMITTED, status=cond.STATUS_FALSE,
            reason=cond.REASON_QUEUED, message=message,
            now=now, observed_generation=task.generation,
        )  # fmt: skip
        status = {
            "phase": cond.PHASE_QUEUED,
            "reason": cond.REASON_QUEUED,
            "queuedAt": _ts(task.queued_at),
            "attempts": 0,
            "conditions": conditions,
        }
        if delayed:
            status["notBefore"] = _ts(start)
        await self.patch_status(task, status)

    async def mark_running(self, task: TaskView, outcome: Outcome) -> None:
        status: dict[str, Any] = {
            "phase": cond.PHASE_RUNNING,
            "jobName": task.name,
            "attempts": outcome.attempts,
            "startedAt": _ts(outcome.started_at),
            "workerHost": outcome.worker_host or task.status.get("workerHost"),
            "reason": outcome.reason or cond.REASON_RUNNING,
        }
        current = {k: task.status.get(k) for k in status}
        if current == status:
            return
        if outcome.phase == "Pending" and task.status.get("attempts") == outcome.attempts:
            return  # nothing a reader needs until a pod runs: save the write
        now = datetime.now(UTC)
        status["conditions"] = cond.set_condition(
            task.status.get("conditions"), type=cond.TYPE_RUNNING,
            status=cond.STATUS_TRUE if outcome.phase == "Running" else cond.STATUS_FALSE,
            reason=cond.REASON_RUNNING if outcome.phase == "Running" else "PodPending",
            message=f"attempt {outcome.attempts}", now=now, observed_generation=task.generation,
        )  # fmt: skip
        if outcome.phase == "Running":
            await task_store.mark_processing(
                self.redis, task.name, utc_iso(outcome.started_at or now),
                outcome.worker_host or self.settings.worker_host or "", outcome.attempts,
            )  # fmt: skip
        await self.patch_status(task, status)

    # ----------------------------------------------------------------- endings

    async def finish(self, task: TaskView, outcome: Outcome) -> None:
        """Record a terminal outcome: Redis, DLQ, metrics, then CR status, then an event."""
        now = datetime.now(UTC)
        completed = outcome.completed_at or now
        succeeded = outcome.phase == "Succeeded"
        error_type = _error_type(outcome)
        if outcome.started_at is not None:
            # A Job can finish between two looks: record the processing facts
            # (start, node, attempts) the task never got to report as running.
            await task_store.mark_processing(
                self.redis, task.name, utc_iso(outcome.started_at),
                outcome.worker_host or task.status.get("workerHost") or "", outcome.attempts,
            )  # fmt: skip
        if succeeded:
            result = outcome.result if outcome.result is not None else {}
            await task_store.mark_completed(
                self.redis, task.name, json.dumps(result, separators=(",", ":")),
                utc_iso(completed), record_ttl_seconds=self.settings.task_record_ttl_seconds,
                throughput_window_seconds=self.settings.throughput_window_seconds,
            )  # fmt: skip
        else:
            await self.record_failure(
                task, outcome.reason or "Failed", _error_text(outcome), error_type,
                outcome.attempts, outcome.exit_code, outcome.termination_message,
                outcome.worker_host, completed,
            )  # fmt: skip
        status = self.terminal_status(task, outcome, completed)
        if not await self.patch_status(task, status):
            return  # a newer view exists; the next reconcile records it (idempotently)
        self.count(task, succeeded, outcome, completed)
        verb = "succeeded" if succeeded else f"failed ({outcome.reason})"
        await post_event(
            self.kube, task, status["reason"], f"task {verb} after {outcome.attempts} attempt(s)",
            warning=not succeeded,
        )  # fmt: skip
        with task_context(task.name, task.task_type.value, task.user_id):
            status_word = "success" if succeeded else "failed"
            log.info("Task %s completed (status: %s)", task.name, status_word)

    async def record_failure(
        self,
        task: TaskView,
        reason: str,
        error: str,
        error_type: str,
        attempts: int,
        exit_code: int | None,
        termination_message: str | None,
        worker_host: str | None,
        when: datetime,
    ) -> None:
        """Redis task hash -> failed, then exactly one DLQ record."""
        await task_store.mark_failed(
            self.redis, task.name, error, error_type=error_type, completed_at=utc_iso(when),
            reason=reason, exit_code=exit_code, attempts=attempts,
            record_ttl_seconds=self.settings.task_record_ttl_seconds,
            throughput_window_seconds=self.settings.throughput_window_seconds,
        )  # fmt: skip
        record = DeadLetterRecord(
            task_id=task.name,
            task_data=dict(task.spec.input),
            error=error,
            error_type=error_type,
            failed_at=utc_iso(when),
            worker_host=worker_host or self.settings.worker_host or "",
            attempts=attempts,
            reason=reason,
            exit_code=exit_code,
            termination_message=termination_message,
            task_type=task.task_type.value,
            user_id=task.user_id,
            namespace=task.namespace,
        )
        written = await write_dead_letter(
            self.redis, record, when.timestamp(), self.settings.dlq_ttl_seconds
        )
        if written:
            DEAD_LETTERS_TOTAL.labels(task.task_type.value, reason).inc()

    def terminal_status(
        self, task: TaskView, outcome: Outcome, completed: datetime
    ) -> dict[str, Any]:
        succeeded = outcome.phase == "Succeeded"
        reason = outcome.reason or (cond.REASON_SUCCEEDED if succeeded else "Failed")
        previous = task.status.get("conditions")
        conditions = cond.set_condition(
            previous, type=cond.TYPE_RUNNING, status=cond.STATUS_FALSE, reason=reason,
            message="job finished", now=completed, observed_generation=task.generation,
        )  # fmt: skip
        conditions = cond.set_condition(
            conditions, type=cond.TYPE_SUCCEEDED if succeeded else cond.TYPE_FAILED,
            status=cond.STATUS_TRUE, reason=reason, message=(outcome.message or reason)[:1024],
            now=completed, observed_generation=task.generation,
        )  # fmt: skip
        status: dict[str, Any] = {
            "phase": cond.PHASE_SUCCEEDED if succeeded else cond.PHASE_FAILED,
            "reason": reason,
            # On failure the task's own error ("TRIPO_API_KEY is not configured")
            # says more than the Job controller's generic message.
            "message": (
                (outcome.message if succeeded else _task_error(outcome) or outcome.message) or ""
            )[:1024],
            "attempts": outcome.attempts,
            "exitCode": outcome.exit_code,
            "completedAt": _ts(completed),
            "startedAt": _ts(outcome.started_at),
            "workerHost": outcome.worker_host,
        }
        if succeeded and outcome.result is not None:
            encoded = json.dumps(outcome.result)
            if len(encoded) <= MAX_STATUS_RESULT_BYTES:
                status["result"] = outcome.result
        if not succeeded:
            status["errorType"] = _error_type(outcome)
            status["deadLetteredAt"] = _ts(completed)
            conditions = cond.set_condition(
                conditions, type=cond.TYPE_DEAD_LETTERED, status=cond.STATUS_TRUE,
                reason=cond.REASON_DEAD_LETTERED, message=f"devskyy:dlq:{task.name}",
                now=completed, observed_generation=task.generation,
            )  # fmt: skip
        status["conditions"] = conditions
        return status

    async def job_missing(self, task: TaskView, body: Mapping[str, Any]) -> None:
        """No Job for an admitted task: either the task itself is being deleted
        (the garbage collector took the Job: a cancellation) or someone deleted
        the Job. Decide on a fresh read, never on a possibly stale event body."""
        try:
            fresh = await self.kube.get(self.task_path(task.namespace, task.name))
        except NotFound:
            await self.cancelled(body)
            return
        meta = fresh.get("metadata") or {}
        if meta.get("uid") != task.uid or meta.get("deletionTimestamp"):
            await self.cancelled(body)
            return
        if await self.get_job(task) is None:
            await self.finish_without_job(task_view_from_body(fresh))

    async def finish_without_job(self, task: TaskView) -> None:
        """The Job vanished before its outcome was recorded: a human stop.

        We fail the task (reason JobDeleted, one DLQ record) instead of
        recreating the Job: deleting a Job is an explicit action, and the DLQ
        retry path re-runs the task on purpose.
        """
        now = datetime.now(UTC)
        outcome = Outcome(
            phase="Failed", reason=cond.REASON_JOB_DELETED,
            message="the task's Job was deleted before it finished",
            attempts=int(task.status.get("attempts") or 0), exit_code=None,
            termination_message=None, result=None,
            started_at=None, completed_at=now, worker_host=task.status.get("workerHost"),
        )  # fmt: skip
        await self.finish(task, outcome)

    async def reject_invalid(self, body: Mapping[str, Any], exc: ValidationError) -> None:
        """A spec that passed the CRD schema but not the models: permanent failure."""
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        await self.refuse(body, problems)

    async def refuse(self, body: Mapping[str, Any], problems: str) -> None:
        """A task no door should have let in (the models or the current limits):
        Failed with InvalidSpec and no Job. Redis and the DLQ first, then the
        status, as every outcome: a terminal status always has its record."""
        meta = body.get("metadata") or {}
        status = body.get("status") or {}
        if status.get("phase") in cond.TERMINAL_PHASES:
            return
        problems = problems[:1024]
        log.warning("task %s has an invalid spec: %s", meta.get("name"), problems)
        await self.record_invalid(body, problems)
        path = self.task_path(str(meta.get("namespace")), str(meta.get("name")), "status")
        now = _ts(datetime.now(UTC))
        patch = {
            "status": {
                "phase": cond.PHASE_FAILED,
                "reason": cond.REASON_INVALID_SPEC,
                "message": problems,
                "completedAt": now,
                "observedGeneration": int(meta.get("generation") or 0),
            }
        }
        try:
            updated = await self.kube.patch(path, patch)
        except NotFound:
            return
        if self.on_patched is not None:
            self.on_patched(updated)

    async def record_invalid(self, body: Mapping[str, Any], problems: str) -> None:
        """An invalid task is a final failure like any other: Redis, DLQ, metrics."""
        meta = body.get("metadata") or {}
        spec = body.get("spec") or {}
        raw_input = spec.get("input") if isinstance(spec.get("input"), dict) else {}
        task_type = str(spec.get("type") or "unknown")
        name = str(meta.get("name"))
        now = datetime.now(UTC)
        await task_store.mark_failed(
            self.redis, name, problems, error_type="InvalidTaskInput", completed_at=utc_iso(now),
            reason=cond.REASON_INVALID_SPEC, attempts=0,
            record_ttl_seconds=self.settings.task_record_ttl_seconds,
            throughput_window_seconds=self.settings.throughput_window_seconds,
        )  # fmt: skip
        record = DeadLetterRecord(
            task_id=name, task_data=dict(raw_input or {}), error=problems,
            error_type="InvalidTaskInput", failed_at=utc_iso(now),
            worker_host=self.settings.worker_host or "", attempts=0,
            reason=cond.REASON_INVALID_SPEC, exit_code=None, termination_message=None,
            task_type=task_type, user_id=str((raw_input or {}).get("user_id") or ""),
            namespace=str(meta.get("namespace") or ""),
        )  # fmt: skip
        if await write_dead_letter(
            self.redis, record, now.timestamp(), self.settings.dlq_ttl_seconds
        ):
            DEAD_LETTERS_TOTAL.labels(task_type, cond.REASON_INVALID_SPEC).inc()
            TASKS_TOTAL.labels(task_type, "failed").inc()
            ERRORS_TOTAL.labels(task_type).inc()

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
        if job is not None and not owned_by(job, task.uid):
            job = None
        admitted = job is not None or recorded == "processing" or bool(task.status.get("jobName"))
        if job is None and admitted:
            await self.record_status_as_outcome(task)
            return
        phase = cond.PHASE_RUNNING if admitted else None
        log.warning(
            "task %s: terminal phase %s was not written by the operator (record: %s); "
            "reconciling from the Job", task.name, task.phase, recorded,
        )  # fmt: skip
        kept = task.status.get("conditions") or ()
        conditions = [c for c in kept if c.get("type") not in _OUTCOME_CONDITIONS]
        undo: dict[str, Any] = dict.fromkeys(_OUTCOME_FIELDS)
        undo |= {"phase": phase, "reason": cond.REASON_STATUS_OVERRIDDEN, "conditions": conditions}
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
                cancelled=task.phase == cond.PHASE_CANCELLED, record_ttl_seconds=ttl,
                throughput_window_seconds=window,
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

    def count(self, task: TaskView, succeeded: bool, outcome: Outcome, completed: datetime) -> None:
        kind = task.task_type.value
        TASKS_TOTAL.labels(kind, "success" if succeeded else "failed").inc()
        if not succeeded:
            ERRORS_TOTAL.labels(kind).inc()
        if outcome.started_at is None:
            return
        seconds = max(0.0, (completed - outcome.started_at).total_seconds())
        TASK_DURATION.labels(kind).observe(seconds)
        requests = container_resources(task.spec, self.settings.resources_for(kind))["requests"]
        for resource in ("cpu", "memory"):
            amount = parse_quantity(requests.get(resource, "0"))
            if amount:
                RESOURCE_SECONDS.labels(kind, task.user_id, resource).inc(float(amount) * seconds)

    async def cancelled(self, body: Mapping[str, Any]) -> None:
        """The task resource was deleted: its Job goes with it (owner reference);
        the Redis record says cancelled unless an outcome was already recorded."""
        meta = body.get("metadata") or {}
        # The Redis record, not the CR phase, says whether an outcome was recorded:
        # a terminal status someone else wrote must not leave the record pending.
        written = await task_store.mark_failed(
            self.redis, str(meta.get("name")), "", error_type="Cancelled",
            completed_at=utc_iso(), reason=cond.REASON_CANCELLED, cancelled=True,
            record_ttl_seconds=self.settings.task_record_ttl_seconds,
            throughput_window_seconds=self.settings.throughput_window_seconds,
        )  # fmt: skip
        if written is task_store.WriteOutcome.OK:
            spec = body.get("spec") or {}
            TASKS_TOTAL.labels(str(spec.get("type", "unknown")), "cancelled").inc()


def _job_finished(job: Mapping[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions
    )


def _error_type(outcome: Outcome) -> str:
    parsed = outcome.result
    if parsed is None and outcome.termination_message:
        try:
            candidate = json.loads(outcome.termination_message)
            parsed = candidate if isinstance(candidate, dict) else None
        except ValueError:
            parsed = None
    if parsed and isinstance(parsed.get("error_type"), str):
        return str(parsed["error_type"])
    return outcome.reason or "Failed"


def _task_error(outcome: Outcome) -> str | None:
    """The `error` the task wrote in its termination message, if any."""
    if not outcome.termination_message:
        return None
    try:
        parsed = json.loads(outcome.termination_message)
    except ValueError:
        return None
    if isinstance(parsed, dict) and parsed.get("error"):
        return str(parsed["error"])
    return None


def _error_text(outcome: Outcome) -> str:
    if outcome.termination_message:
        try:
            parsed = json.loads(outcome.termination_message)
            if isinstance(parsed, dict) and parsed.get("error"):
                return str(parsed["error"])[:1024]
        except ValueError:
            return outcome.termination_message[:1024]
    return outcome.message or outcome.reason or "failed"
