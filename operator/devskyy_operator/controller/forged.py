"""A terminal status the operator did not write (pure).

Every outcome the operator records goes to Redis before the status, so a
terminal status over a task record that is not terminal was written by someone
else (an admin, another controller). The reconciler reads the record only for
terminal tasks and asks here only when it disagrees (pending or processing).

- The Job can still say what happened: the outcome fields and conditions go,
  the phase becomes what the Job says (Running when admitted, none when not)
  with reason StatusOverridden, a Warning event follows, and the task is
  decided again from there.
- An admitted task whose Job is gone leaves nothing to decide from: the status
  is kept and the record made to agree (a kept Failed is a final failure like
  any other: DLQ record, hash, counters), with a Warning event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from devskyy_operator.controller.decide import owned_by
from devskyy_operator.controller.plan import MarkCompleted, Plan, PostEvent, RecordFailure
from devskyy_operator.crd import conditions as cond
from devskyy_operator.crd.status import TaskStatus, clip
from devskyy_operator.crd.task_view import TaskView, parse_time
from devskyy_operator.deadletter.record import FinalFailure
from devskyy_operator.settings import Settings

# Set only with a terminal phase: cleared when a terminal status was not ours.
OUTCOME_CONDITIONS = frozenset({cond.TYPE_SUCCEEDED, cond.TYPE_FAILED, cond.TYPE_DEAD_LETTERED})


def forged(
    task: TaskView,
    recorded: str,
    job: Mapping[str, Any] | None,
    now: datetime,
    settings: Settings,
) -> Plan:
    """`task` is terminal, its record says `recorded` (pending or processing)."""
    has_job = job is not None and owned_by(job, task.uid)
    admitted = has_job or recorded == "processing" or bool(task.status.get("jobName"))
    if admitted and not has_job:
        return kept(task, now, settings)
    kept_conditions = [
        c for c in task.status.get("conditions") or () if c.get("type") not in OUTCOME_CONDITIONS
    ]
    undo = TaskStatus(
        phase=cond.PHASE_RUNNING if admitted else None, reason=cond.REASON_STATUS_OVERRIDDEN,
        completed_at=None, result=None, exit_code=None, error_type=None, dead_lettered_at=None,
        message=None, conditions=kept_conditions,
    )  # fmt: skip
    event = PostEvent(
        cond.REASON_STATUS_OVERRIDDEN,
        f"phase {task.phase} was not written by the operator (the task record says "
        f"{recorded}); status reconciled from the Job",
        warning=True,
    )
    note = f"terminal phase {task.phase} was not written by the operator (record: {recorded})"
    return Plan(status=undo, after=(event,), note=note, reconcile_after=True)


def kept(task: TaskView, now: datetime, settings: Settings) -> Plan:
    """The record follows a terminal status that no Job can contradict any more."""
    status = task.status
    when = parse_time(status.get("completedAt")) or now
    record: MarkCompleted | RecordFailure
    if task.phase == cond.PHASE_SUCCEEDED:
        result = status.get("result")
        record = MarkCompleted(result if isinstance(result, dict) else {}, when)
    else:
        reason = str(status.get("reason") or cond.REASON_FAILED)
        failure = FinalFailure(
            task_id=task.name, task_type=task.task_type.value, user_id=task.user_id,
            namespace=task.namespace, task_data=dict(task.spec.input), reason=reason,
            error=clip(str(status.get("message") or reason)),
            error_type=str(status.get("errorType") or task.phase), failed_at=when,
            attempts=int(status.get("attempts") or 0),
            worker_host=str(status.get("workerHost") or settings.worker_host or ""),
        )  # fmt: skip
        record = RecordFailure(failure)
    event = PostEvent(
        cond.REASON_STATUS_OVERRIDDEN,
        f"phase {task.phase} was not recorded by the operator and the Job is gone; "
        "kept, and written to the task record",
        warning=True,
    )
    note = f"terminal phase {task.phase} without a Job; the task record now says so"
    return Plan(records=(record,), after=(event,), note=note)
