"""The statuses of a task's transitions, built on the one status model (pure).

Conditions are carried over from the status read (`set_condition` moves a
transition time only when a condition's status changes), so a repeated
decision builds an identical status.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from devskyy_agents.clock import utc_iso
from devskyy_operator import keys
from devskyy_operator.admission import sla
from devskyy_operator.crd import conditions as cond
from devskyy_operator.crd.status import TaskStatus
from devskyy_operator.crd.task_view import TaskView
from devskyy_operator.deadletter.record import FinalFailure
from devskyy_operator.job.outcome import Outcome

MAX_STATUS_RESULT_BYTES = 8 * 1024


def queued_status(task: TaskView, now: datetime) -> TaskStatus:
    """Waiting for a slot, or for its schedule: the reason is in the Admitted
    condition (a status message would outlive admission); `notBefore` says when."""
    start = task.spec.scheduled_for()
    if start is not None and start <= now:
        start = None  # due: it waits for a slot only
    waits = f"scheduled for {utc_iso(start, timespec='seconds')}" if start else None
    conditions = cond.set_condition(
        task.status.get("conditions"), type=cond.TYPE_ADMITTED, status=cond.STATUS_FALSE,
        reason=cond.REASON_QUEUED, message=waits or "waiting for a concurrency slot",
        now=now, observed_generation=task.generation,
    )  # fmt: skip
    status = TaskStatus(
        phase=cond.PHASE_QUEUED, reason=cond.REASON_QUEUED, queued_at=task.queued_at,
        attempts=0, conditions=conditions,
    )  # fmt: skip
    return status.updated(not_before=start) if start else status


def admitted_status(
    task: TaskView, now: datetime, verdict: sla.Verdict | None = None
) -> TaskStatus:
    """The admission loop created the task's Job: Running, first attempt (with its
    queue wait's SLA miss, if `verdict` has one)."""
    conditions = cond.set_condition(
        task.status.get("conditions"), type=cond.TYPE_ADMITTED, status=cond.STATUS_TRUE,
        reason=cond.REASON_ADMITTED, message=f"job {task.name} created",
        now=now, observed_generation=task.generation,
    )  # fmt: skip
    status = TaskStatus(
        phase=cond.PHASE_RUNNING, reason=cond.REASON_ADMITTED, job_name=task.name,
        attempts=1,  # the Job's first pod is the first attempt
        queued_at=task.queued_at,  # a task admitted at once was never written Queued
        admitted_at=now, conditions=conditions,
    )  # fmt: skip
    return with_sla_misses(status, task, conditions, verdict, now)


_MISS_REASONS = {
    sla.QUEUE_WAIT: cond.REASON_QUEUE_WAIT_EXCEEDED,
    sla.COMPLETION: cond.REASON_COMPLETION_EXCEEDED,
}


def sla_conditions(
    conditions: Sequence[Mapping[str, Any]] | None,
    verdict: sla.Verdict,
    now: datetime,
    generation: int,
) -> list[dict[str, Any]]:
    """`conditions` with SLABreached True: the reason is the first objective missed,
    the message lists every miss (earlier ones kept)."""
    previous = cond.get_condition(conditions, cond.TYPE_SLA_BREACHED)
    said = [str(previous["message"])] if previous and previous.get("message") else []
    reason = str(previous["reason"]) if previous else _MISS_REASONS[verdict.missed[0].objective]
    message = "; ".join([*said, *(miss.describe() for miss in verdict.missed)])
    return cond.set_condition(
        conditions, type=cond.TYPE_SLA_BREACHED, status=cond.STATUS_TRUE, reason=reason,
        message=message, now=now, observed_generation=generation,
    )  # fmt: skip


def with_sla_misses(
    status: TaskStatus,
    task: TaskView,
    conditions: Sequence[Mapping[str, Any]] | None,
    verdict: sla.Verdict | None,
    now: datetime,
) -> TaskStatus:
    """`status` (whose conditions are `conditions`) with the misses of `verdict` added."""
    if verdict is None or not verdict.missed:
        return status
    return status.updated(
        conditions=sla_conditions(conditions, verdict, now, task.generation),
        sla_breached=sla.breached_list(sla.recorded(task.status), verdict),
    )


def sla_missed_status(task: TaskView, verdict: sla.Verdict, now: datetime) -> TaskStatus:
    """A bound passed while the task waits or runs: only the SLA fields change."""
    conditions = task.status.get("conditions")
    return with_sla_misses(TaskStatus(), task, conditions, verdict, now)


def succeeded_status(
    task: TaskView, outcome: Outcome, conditions: list[dict[str, Any]], completed: datetime
) -> TaskStatus:
    reason = outcome.reason or cond.REASON_SUCCEEDED
    conditions = cond.set_condition(
        conditions, type=cond.TYPE_SUCCEEDED, status=cond.STATUS_TRUE, reason=reason,
        message=outcome.message or reason, now=completed, observed_generation=task.generation,
    )  # fmt: skip
    status = TaskStatus(
        phase=cond.PHASE_SUCCEEDED, reason=reason, message=outcome.message or "",
        attempts=outcome.attempts, exit_code=outcome.exit_code, completed_at=completed,
        started_at=outcome.started_at, worker_host=outcome.worker_host, conditions=conditions,
    )  # fmt: skip
    result = outcome.result
    if result is not None and len(json.dumps(result)) <= MAX_STATUS_RESULT_BYTES:
        status = status.updated(result=result)
    return status


def cached_status(
    task: TaskView, task_id: str, result: Mapping[str, Any], now: datetime
) -> TaskStatus:
    """Succeeded at once with the stored result of `task_id`: no Job, no attempt."""
    message = f"result of task {task_id} served from the result cache"
    conditions = cond.set_condition(
        task.status.get("conditions"), type=cond.TYPE_SUCCEEDED, status=cond.STATUS_TRUE,
        reason=cond.REASON_CACHE_HIT, message=message, now=now,
        observed_generation=task.generation,
    )  # fmt: skip
    status = TaskStatus(
        phase=cond.PHASE_SUCCEEDED, reason=cond.REASON_CACHE_HIT, message=message, attempts=0,
        queued_at=task.queued_at, completed_at=now, cache_hit=True, cached_from=task_id,
        conditions=conditions,
    )  # fmt: skip
    if len(json.dumps(result)) <= MAX_STATUS_RESULT_BYTES:
        status = status.updated(result=dict(result))
    return status


def failed_status(
    conditions: Sequence[Mapping[str, Any]] | None,
    failure: FinalFailure,
    generation: int,
    *,
    condition_message: str,
) -> TaskStatus:
    """Failed with the Failed and DeadLettered conditions: the status of every final
    failure the operator decides, built from the same facts as its DLQ record."""
    failed = cond.set_condition(
        conditions, type=cond.TYPE_FAILED, status=cond.STATUS_TRUE, reason=failure.reason,
        message=condition_message, now=failure.failed_at, observed_generation=generation,
    )  # fmt: skip
    lettered = cond.set_condition(
        failed, type=cond.TYPE_DEAD_LETTERED, status=cond.STATUS_TRUE,
        reason=cond.REASON_DEAD_LETTERED, message=keys.dlq_key(failure.task_id),
        now=failure.failed_at, observed_generation=generation,
    )  # fmt: skip
    return TaskStatus(
        phase=cond.PHASE_FAILED, reason=failure.reason, message=failure.error,
        error_type=failure.error_type, attempts=failure.attempts, exit_code=failure.exit_code,
        completed_at=failure.failed_at, dead_lettered_at=failure.failed_at, conditions=lettered,
    )  # fmt: skip
