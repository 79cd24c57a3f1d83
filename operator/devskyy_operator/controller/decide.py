"""What the reconciler does about one task, decided without I/O.

Given the task, its Job, its pods and the time, `decide` returns a `Plan`; the
reconciler carries it out. A plan has three parts, run in this order:

1. `records`: Redis writes (task hash, the final failure's DLQ record), so a
   terminal status always has its records and a crash replays to the same end;
2. `status`: at most one status patch, made only if the task is unchanged
   since it was read (resourceVersion precondition): one write per transition;
3. `after`: events and counters, only once that patch went through, so a stale
   decision that loses its write leaves no trace and the next one is counted.

Every status the operator writes is built here (`admitted_status` for the
admission loop) on the one status model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from devskyy_agents.clock import utc_iso
from devskyy_agents.models import TaskSpec
from devskyy_operator import keys
from devskyy_operator.admission.limits import describe, limit_problems
from devskyy_operator.crd import conditions as cond
from devskyy_operator.crd.status import TaskStatus, clip
from devskyy_operator.crd.task_view import TaskView, parse_time
from devskyy_operator.deadletter.record import ERROR_TYPE_INVALID_INPUT, FinalFailure
from devskyy_operator.job.outcome import Outcome, job_outcome
from devskyy_operator.job.resources import container_resources, parse_quantity
from devskyy_operator.settings import Settings

MAX_STATUS_RESULT_BYTES = 8 * 1024
COUNTED_RESOURCES = ("cpu", "memory")

# ----------------------------------------------------------------- actions


@dataclass(frozen=True)
class EnsureRecord:
    """Create the task hash of a task that never passed the API (kubectl apply)."""

    spec: TaskSpec
    created_at: datetime
    source: str


@dataclass(frozen=True)
class MarkProcessing:
    """Task hash -> processing with this attempt's start, node and number."""

    started_at: datetime
    worker_host: str
    attempts: int


@dataclass(frozen=True)
class MarkCompleted:
    """Task hash -> completed with the task's output."""

    result: Mapping[str, Any]
    completed_at: datetime


@dataclass(frozen=True)
class RecordFailure:
    """The one final-failure path: DLQ record, task hash -> failed, failure counters."""

    failure: FinalFailure


@dataclass(frozen=True)
class MarkCancelled:
    """Task hash -> failed/cancelled (the resource was deleted); counted if it changed."""

    task_type: str


@dataclass(frozen=True)
class PostEvent:
    reason: str
    message: str
    warning: bool = False


@dataclass(frozen=True)
class TaskEnded:
    """Count a finished task: success counter, duration, requested resources x time."""

    task_type: str
    user_id: str
    succeeded: bool
    run_seconds: float | None  # None: it never started
    requests: Mapping[str, float] = field(default_factory=dict)  # cores, bytes


RecordAction = EnsureRecord | MarkProcessing | MarkCompleted | RecordFailure | MarkCancelled
AfterAction = PostEvent | TaskEnded


@dataclass(frozen=True)
class Plan:
    records: tuple[RecordAction, ...] = ()
    status: TaskStatus | None = None
    after: tuple[AfterAction, ...] = ()
    note: str | None = None  # why nothing is done, for the log
    # The status is Queued and may wait for the next admission round: admitted
    # there, the task gets one status write (Running) instead of two.
    deferrable: bool = False

    @property
    def empty(self) -> bool:
        return not self.records and self.status is None and not self.after


# ----------------------------------------------------------------- what the I/O side reads


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid and ref.get("controller") for ref in refs)


def admitted(task: TaskView) -> bool:
    return task.phase == cond.PHASE_RUNNING or bool(task.status.get("jobName"))


def needs_job(task: TaskView) -> bool:
    """Only an admitted, unfinished task is decided from its Job."""
    return task.phase not in (None, cond.PHASE_QUEUED, *cond.TERMINAL_PHASES)


def job_finished(job: Mapping[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions
    )


def wants_pods(task: TaskView, job: Mapping[str, Any] | None) -> bool:
    """Pods are listed only when their details matter: at the end (exit code,
    termination message) and when the first pod starts (its node)."""
    if job is None or not owned_by(job, task.uid):
        return False
    ready = int((job.get("status") or {}).get("ready") or 0)
    return job_finished(job) or (ready > 0 and not task.status.get("workerHost"))


def task_is_gone(fresh: Mapping[str, Any] | None, uid: str) -> bool:
    """A fresh read says the task was deleted (or replaced): its Job went with it."""
    if fresh is None:
        return True
    meta = fresh.get("metadata") or {}
    return meta.get("uid") != uid or bool(meta.get("deletionTimestamp"))


# ----------------------------------------------------------------- decisions


def decide(
    task: TaskView,
    job: Mapping[str, Any] | None,
    pods: Sequence[Mapping[str, Any]],
    now: datetime,
    settings: Settings,
) -> Plan:
    """The plan for a task whose spec is valid; `job` None means looked for, not there."""
    if task.phase in cond.TERMINAL_PHASES:
        return Plan()
    if task.phase is None:
        return enqueue(task, now, settings)
    if task.phase == cond.PHASE_QUEUED:
        return Plan()  # the admission loop owns Queued tasks (and adopts a Job left by a crash)
    if job is not None and not owned_by(job, task.uid):
        return Plan(note=f"job {task.name} belongs to an older task of that name; waiting for GC")
    if job is None:
        return finish(task, job_deleted(task, now), now, settings) if admitted(task) else Plan()
    outcome = job_outcome(job, pods)
    if outcome.terminal:
        return finish(task, outcome, now, settings)
    return running(task, outcome, now, settings)


def enqueue(task: TaskView, now: datetime, settings: Settings) -> Plan:
    """A new task: a Redis record (also for kubectl-created tasks), phase Queued.

    A task over the limits of the current settings fails here instead
    (InvalidSpec, no Job): CEL has no clock for the schedule horizon, and the
    CRD's maxima are only the settings' when the chart wrote both.
    """
    source = task.annotations.get(keys.ANNOTATION_SOURCE, "kubectl")
    record = EnsureRecord(task.spec, task.queued_at, source)
    problems = limit_problems(task.spec, settings, task.queued_at)
    if problems:
        refusal = refused(_body_of(task), describe(problems), now, settings)
        return Plan(records=(record, *refusal.records), status=refusal.status, after=refusal.after)
    start = task.spec.scheduled_for()
    delayed = start is not None and start > now
    message = (
        f"scheduled for {utc_iso(start, timespec='seconds')}"
        if delayed and start is not None
        else "waiting for a concurrency slot"
    )
    conditions = cond.set_condition(
        task.status.get("conditions"), type=cond.TYPE_ADMITTED, status=cond.STATUS_FALSE,
        reason=cond.REASON_QUEUED, message=message,
        now=now, observed_generation=task.generation,
    )  # fmt: skip
    status = TaskStatus(
        phase=cond.PHASE_QUEUED, reason=cond.REASON_QUEUED, queued_at=task.queued_at,
        attempts=0, conditions=conditions,
    )  # fmt: skip
    if delayed:
        status = status.updated(not_before=start)
    return Plan(records=(record,), status=status, deferrable=not delayed)


def _body_of(task: TaskView) -> dict[str, Any]:
    """The parts of a task body `refused` reads, from a view."""
    return {
        "metadata": {
            "name": task.name, "namespace": task.namespace, "generation": task.generation,
        },
        "spec": {"type": task.task_type.value, "input": dict(task.spec.input)},
        "status": dict(task.status),
    }  # fmt: skip


def admitted_status(task: TaskView, now: datetime) -> TaskStatus:
    """The admission loop created the task's Job: Running, first attempt."""
    conditions = cond.set_condition(
        task.status.get("conditions"), type=cond.TYPE_ADMITTED, status=cond.STATUS_TRUE,
        reason=cond.REASON_ADMITTED, message=f"job {task.name} created",
        now=now, observed_generation=task.generation,
    )  # fmt: skip
    return TaskStatus(
        phase=cond.PHASE_RUNNING, reason=cond.REASON_ADMITTED, job_name=task.name,
        attempts=1,  # the Job's first pod is the first attempt
        queued_at=task.queued_at,  # a task admitted at once was never written Queued
        admitted_at=now, conditions=conditions,
    )  # fmt: skip


def running(task: TaskView, outcome: Outcome, now: datetime, settings: Settings) -> Plan:
    """The Job runs, or waits for its pod. The skip-a-write rule: nothing is written
    while nothing a reader needs changed, nor for a pod still Pending at the same
    attempt, nor while the Job controller has yet to count an ended pod or to complete
    after its success verdict."""
    status = TaskStatus(
        phase=cond.PHASE_RUNNING, job_name=task.name, attempts=outcome.attempts,
        started_at=outcome.started_at,
        worker_host=outcome.worker_host or task.status.get("workerHost"),
        reason=outcome.reason or cond.REASON_RUNNING,
    )  # fmt: skip
    if status.unchanged_in(task.status):
        return Plan()
    if outcome.phase == "Pending" and task.status.get("attempts") == outcome.attempts:
        return Plan()  # nothing a reader needs until a pod runs: save the write
    if outcome.succeeding or outcome.settling:
        # A pod ended and the Job controller has not said what that means yet
        # (Complete, a retry, Failed): its next update does, and we write then.
        return Plan()
    pod_runs = outcome.phase == "Running"
    conditions = cond.set_condition(
        task.status.get("conditions"), type=cond.TYPE_RUNNING,
        status=cond.STATUS_TRUE if pod_runs else cond.STATUS_FALSE,
        reason=cond.REASON_RUNNING if pod_runs else "PodPending",
        message=f"attempt {outcome.attempts}", now=now, observed_generation=task.generation,
    )  # fmt: skip
    records: tuple[RecordAction, ...] = ()
    if pod_runs:
        records = (MarkProcessing(outcome.started_at or now, _host(task, outcome, settings),
                                  outcome.attempts),)  # fmt: skip
    return Plan(records=records, status=status.updated(conditions=conditions))


def _host(task: TaskView, outcome: Outcome, settings: Settings) -> str:
    """The node for the task hash: the pod's, else the one seen before, else the default."""
    return outcome.worker_host or task.status.get("workerHost") or settings.worker_host or ""


def job_deleted(task: TaskView, now: datetime) -> Outcome:
    """The Job vanished before its outcome was recorded: a human stop.

    We fail the task (reason JobDeleted, one DLQ record) instead of recreating the
    Job: deleting a Job is an explicit action, and the DLQ retry re-runs the task
    on purpose.
    """
    return Outcome(
        phase="Failed", reason=cond.REASON_JOB_DELETED,
        message="the task's Job was deleted before it finished",
        attempts=int(task.status.get("attempts") or 0), exit_code=None,
        termination_message=None, result=None, started_at=None, completed_at=now,
        worker_host=task.status.get("workerHost"),
    )  # fmt: skip


def finish(task: TaskView, outcome: Outcome, now: datetime, settings: Settings) -> Plan:
    """A terminal outcome: Redis (the DLQ on failure), the status, counters, and a
    Warning event for a failure (a success has its condition; an event per task
    would be one more API write for nothing a reader lacks)."""
    completed = outcome.completed_at or now
    succeeded = outcome.phase == "Succeeded"
    records: list[RecordAction] = []
    if outcome.started_at is not None:
        # A Job can finish between two looks: record the processing facts
        # (start, node, attempts) the task never got to report as running.
        host = _host(task, outcome, settings)
        records.append(MarkProcessing(outcome.started_at, host, outcome.attempts))
    reason = outcome.reason or (cond.REASON_SUCCEEDED if succeeded else cond.REASON_FAILED)
    conditions = cond.set_condition(
        task.status.get("conditions"), type=cond.TYPE_RUNNING, status=cond.STATUS_FALSE,
        reason=reason, message="job finished", now=completed,
        observed_generation=task.generation,
    )  # fmt: skip
    status: TaskStatus
    if succeeded:
        records.append(MarkCompleted(outcome.result or {}, completed))
        status = succeeded_status(task, outcome, conditions, completed)
        after: tuple[AfterAction, ...] = ()  # the Succeeded condition says it all
    else:
        failure = failure_of(task, outcome, completed, settings)
        records.append(RecordFailure(failure))
        status = failed_status(
            conditions, failure, task.generation, condition_message=outcome.message or reason
        ).updated(started_at=outcome.started_at, worker_host=outcome.worker_host)
        after = (PostEvent(reason, _ended(f"failed ({reason})", outcome), warning=True),)
    ended = task_ended(task, succeeded, outcome.started_at, completed, settings)
    return Plan(records=tuple(records), status=status, after=(*after, ended))


def _ended(verb: str, outcome: Outcome) -> str:
    return f"task {verb} after {outcome.attempts} attempt(s)"


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


def failed_status(
    conditions: Sequence[Mapping[str, Any]] | None,
    failure: FinalFailure,
    generation: int,
    *,
    condition_message: str,
) -> TaskStatus:
    """Failed with the Failed and DeadLettered conditions: the status of every final
    failure, built from the same facts as its DLQ record."""
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


def failure_of(
    task: TaskView, outcome: Outcome, completed: datetime, settings: Settings
) -> FinalFailure:
    """The facts of a failed Job. The task's own error ("TRIPO_API_KEY is not
    configured") says more than the Job controller's generic message."""
    reason = outcome.reason or cond.REASON_FAILED
    return FinalFailure(
        task_id=task.name, task_type=task.task_type.value, user_id=task.user_id,
        namespace=task.namespace, task_data=dict(task.spec.input), reason=reason,
        error=clip(outcome.task_error or outcome.message or reason),
        error_type=outcome.task_error_type or reason, failed_at=completed,
        attempts=outcome.attempts, exit_code=outcome.exit_code,
        termination_message=outcome.termination_message,
        worker_host=outcome.worker_host or settings.worker_host or "",
    )  # fmt: skip


def task_ended(
    task: TaskView,
    succeeded: bool,
    started_at: datetime | None,
    completed: datetime,
    settings: Settings,
) -> TaskEnded:
    kind = task.task_type.value
    if started_at is None:
        return TaskEnded(kind, task.user_id, succeeded, None)
    seconds = max(0.0, (completed - started_at).total_seconds())
    requested = container_resources(task.spec, settings.resources_for(kind))["requests"]
    amounts = {r: float(parse_quantity(requested.get(r, "0")) or 0) for r in COUNTED_RESOURCES}
    return TaskEnded(kind, task.user_id, succeeded, seconds, amounts)


def invalid(
    body: Mapping[str, Any], exc: ValidationError, now: datetime, settings: Settings
) -> Plan:
    """A spec that passed the CRD schema but not the models."""
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return refused(body, problems, now, settings)


def refused(body: Mapping[str, Any], problems: str, now: datetime, settings: Settings) -> Plan:
    """A task no door should have let in (the models or the current limits): a final
    failure like any other (DLQ and hash first, then Failed with DeadLettered),
    without a Job."""
    status = body.get("status") or {}
    if status.get("phase") in cond.TERMINAL_PHASES:
        return Plan()
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    given = spec.get("input")
    raw_input: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
    problems = clip(problems)
    failure = FinalFailure(
        task_id=str(meta.get("name")), task_type=str(spec.get("type") or "unknown"),
        user_id=str(raw_input.get("user_id") or ""), namespace=str(meta.get("namespace") or ""),
        task_data=raw_input, reason=cond.REASON_INVALID_SPEC, error=problems,
        error_type=ERROR_TYPE_INVALID_INPUT, failed_at=now, attempts=0,
        worker_host=settings.worker_host or "",
    )  # fmt: skip
    generation = int(meta.get("generation") or 0)
    failed = failed_status(
        status.get("conditions"), failure, generation, condition_message=problems
    )
    event = PostEvent(cond.REASON_INVALID_SPEC, f"invalid spec: {problems}", warning=True)
    return Plan(
        records=(RecordFailure(failure),), status=failed, after=(event,),
        note=f"invalid spec: {problems}",
    )  # fmt: skip


def deleted(body: Mapping[str, Any]) -> Plan:
    """The task resource was deleted: its Job goes with it (owner reference); the
    Redis record says cancelled unless an outcome was already recorded. The record,
    not the CR phase, decides: a terminal status someone else wrote must not leave
    the record pending (a terminal record is never overwritten)."""
    task_type = str((body.get("spec") or {}).get("type") or "unknown")
    return Plan(records=(MarkCancelled(task_type),))


def retention_expired(task: TaskView | None, now: datetime, retention_seconds: float) -> bool:
    """A finished Job may go once its task's outcome is recorded and retention passed."""
    if task is None or task.phase not in cond.TERMINAL_PHASES:
        return False  # outcome not recorded yet (or the owner is gone: GC's job)
    completed = parse_time(task.status.get("completedAt"))
    return completed is not None and (now - completed).total_seconds() >= retention_seconds
