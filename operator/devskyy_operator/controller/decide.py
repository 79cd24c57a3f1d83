"""What the reconciler does about one task with a valid spec, decided without I/O.

Given the task, its Job, its pods and the time, `decide` returns a `Plan`
(`plan.py`) that the reconciler carries out; the statuses come from
`statuses.py`, refusals from `refusals.py`, forged outcomes from `forged.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from devskyy_operator.admission import sla
from devskyy_operator.admission.limits import describe, limit_problems
from devskyy_operator.admission.tiers import tier_problems
from devskyy_operator.cache.key import CacheEntry, result_key, written_model
from devskyy_operator.cache.policy import CachePolicy, cache_policy
from devskyy_operator.controller.plan import (
    AfterAction,
    CountCacheHit,
    DeleteJob,
    EnsureRecord,
    MarkCancelled,
    MarkCompleted,
    MarkProcessing,
    Plan,
    PostEvent,
    RecordAction,
    RecordFailure,
    RecordModelVersion,
    SlaJudged,
    StoreCachedResult,
    TaskEnded,
)
from devskyy_operator.controller.refusals import refusal
from devskyy_operator.controller.statuses import (
    cached_status,
    failed_status,
    queued_status,
    sla_conditions,
    succeeded_status,
)
from devskyy_operator.cost.compute import task_cost
from devskyy_operator.cost.model import TaskCost
from devskyy_operator.crd import conditions as cond
from devskyy_operator.crd.status import TaskStatus, clip
from devskyy_operator.crd.task_view import TaskView, parse_time
from devskyy_operator.deadletter.record import FinalFailure
from devskyy_operator.job import pod_records
from devskyy_operator.job.outcome import Outcome, job_outcome
from devskyy_operator.job.outcome import job_finished as job_finished  # the I/O side's too
from devskyy_operator.job.pod_problems import PodProblem
from devskyy_operator.job.resources import container_resources, parse_quantity
from devskyy_operator.settings import Settings

COUNTED_RESOURCES = ("cpu", "memory")

# ----------------------------------------------------------------- what the I/O side reads


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid and ref.get("controller") for ref in refs)


def admitted(task: TaskView) -> bool:
    return task.phase == cond.PHASE_RUNNING or bool(task.status.get("jobName"))


def needs_job(task: TaskView) -> bool:
    """Only an admitted, unfinished task is decided from its Job."""
    return task.phase not in (None, cond.PHASE_QUEUED, *cond.TERMINAL_PHASES)


def wants_pods(
    task: TaskView, job: Mapping[str, Any] | None, now: datetime, settings: Settings
) -> bool:
    """Pods are looked at only when their details matter: at the end (exit code,
    termination message), when the first pod starts (its node), and while no pod
    is ready and one may have a problem the Job cannot see (`pod_problems.py`):
    an attempt failed (OOM-killed?) or the Job is older than the pending deadline
    (stuck Pending?). An eviction leaves the Job's counts as they were: the pod
    watch (`pod_watch.py`) asks for the pods then. They come from that watch
    when it holds what the decision reads (`watched_pods_suffice`), else from a
    LIST: a healthy task costs none; a stuck one one per resync period."""
    if job is None or not owned_by(job, task.uid):
        return False
    if job_finished(job):
        return True
    status = job.get("status") or {}
    ready, failed, succeeded = (int(status.get(k) or 0) for k in ("ready", "failed", "succeeded"))
    if ready > 0:
        return not task.status.get("workerHost")
    uncounted = status.get("uncountedTerminatedPods") or {}
    if succeeded or uncounted.get("succeeded"):
        return False  # a pod succeeded: Complete follows
    if failed > 0 or uncounted.get("failed"):
        return True
    return pending_matters(job, now, settings)


def pending_matters(job: Mapping[str, Any], now: datetime, settings: Settings) -> bool:
    """No pod is ready and the Job is older than the pending deadline: a pod still
    Pending is a problem (`pod_problems.py`) now."""
    status = job.get("status") or {}
    if int(status.get("ready") or 0) > 0 or job_finished(job):
        return False
    started = parse_time(status.get("startTime"))
    age = (now - started).total_seconds() if started is not None else 0.0
    return int(status.get("active") or 0) > 0 and age >= settings.pending_deadline_seconds


def watched_pods_suffice(
    task: TaskView,
    job: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    now: datetime,
    settings: Settings,
) -> bool:
    """The pod watch's copies of the Job's pods hold what a decision on this task
    reads (`pod_records.suffices`), so they stand in for a LIST."""
    return pod_records.suffices(
        job, pods, node_known=bool(task.status.get("workerHost")),
        pending_matters=pending_matters(job, now, settings),
    )  # fmt: skip


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
    problem = outcome.problem
    ends = problem is not None and not outcome.terminating
    if ends and problem is not None and ends_task_now(task, problem, now, settings):
        return fail_now(task, outcome, problem, job, now, settings)
    return running(task, outcome, now, settings)


def _ensure_record(task: TaskView) -> EnsureRecord:
    source = task.source or "kubectl"
    return EnsureRecord(task.spec, task.queued_at, source, task.tier)


def ends_task_now(task: TaskView, problem: PodProblem, now: datetime, settings: Settings) -> bool:
    """Whether a pod's problem fails the task now instead of the Job running on.

    None of them is retried by default: an OOM kill recurs under the same limit
    (`retry_oom` per type says otherwise), an own-storage overrun recurs with the
    same input (and the Job would re-run it forever: evictions are Ignored), and a
    pod Pending past the deadline (a bad image, a request no node holds) waits
    for a change of configuration, not time; the DLQ retry re-runs it after one.
    """
    if problem.reason == cond.REASON_OOM_KILLED:
        return not settings.retries_oom(task.task_type)
    if problem.reason == cond.REASON_EPHEMERAL_STORAGE:
        return True
    if problem.pending and problem.since is not None:
        return (now - problem.since).total_seconds() >= settings.pending_deadline_seconds
    return False


def fail_now(
    task: TaskView,
    outcome: Outcome,
    problem: PodProblem,
    job: Mapping[str, Any],
    now: datetime,
    settings: Settings,
) -> Plan:
    """The task fails with the pod's reason and message through the one final-failure
    path; then its Job goes (Background: the garbage collector deletes its pods),
    so no attempt runs on and no pod is left behind."""
    failed = replace(
        outcome, phase="Failed", reason=problem.reason, message=problem.message,
        attempts=max(outcome.attempts, 1), completed_at=now, result=None,
        task_error=None, task_error_type=None, terminating=False, problem=problem,
        exit_code=outcome.exit_code if problem.reason == cond.REASON_OOM_KILLED else None,
    )  # fmt: skip
    plan = finish(task, failed, now, settings)
    uid = str((job.get("metadata") or {}).get("uid") or "")
    note = f"{problem.reason} (pod {problem.pod}): {problem.message}; deleting its Job"
    return replace(plan, after=(*plan.after, DeleteJob(uid)), note=note)


def enqueue(task: TaskView, now: datetime, settings: Settings) -> Plan:
    """A new task: a Redis record (also for kubectl-created tasks), then phase Queued,
    or, over the limits of the current settings or outside its tier's band,
    InvalidSpec without a Job."""
    ensure = _ensure_record(task)
    problems = [
        *limit_problems(task.spec, settings, task.queued_at),
        *tier_problems(task.tier, task.spec.priority, settings),
    ]
    if not problems:
        status = queued_status(task, now)
        # Due now: the admission round may admit it first and write Running only.
        return Plan(records=(ensure,), status=status, deferrable=status.not_before is None)
    refused = refusal(
        task_id=task.name, namespace=task.namespace, generation=task.generation,
        task_type=task.task_type.value, task_input=task.spec.input,
        conditions=task.status.get("conditions"), problems=describe(problems), now=now,
        settings=settings,
    )  # fmt: skip
    return replace(refused, records=(ensure, *refused.records))


def lookup_policy(
    task: TaskView, settings: Settings, *, admitting: bool = False
) -> CachePolicy | None:
    """The caching of a task the result cache may serve: cacheable, within the
    limits of the settings (a task `enqueue` refuses is never served), and new, or
    waiting for admission (`admitting`)."""
    waiting = task.phase is None or (admitting and task.phase == cond.PHASE_QUEUED)
    if not waiting or limit_problems(task.spec, settings, task.queued_at):
        return None
    return cache_policy(task.spec, settings)


def served_from_cache(task: TaskView, entry: CacheEntry, now: datetime) -> Plan:
    """A new task whose result is stored: its record (completed, with the task that
    ran), Succeeded with cacheHit, counted; no Queued, no Job."""
    kind = task.task_type.value
    completed = MarkCompleted(entry.result, now, cached_from=entry.task_id)
    return Plan(
        records=(_ensure_record(task), completed),
        status=cached_status(task, entry.task_id, entry.result, now),
        after=(CountCacheHit(kind), TaskEnded(kind, task.user_id, True, None)),
        note=f"served from the result cache (task {entry.task_id})",
    )


def cache_records(
    task: TaskView, result: Mapping[str, Any] | None, completed: datetime, settings: Settings
) -> list[RecordAction]:
    """What a succeeded task leaves for the result cache: the model version it
    names (ML), and its output under its key when the task is cacheable."""
    records: list[RecordAction] = []
    model = written_model(task.spec, result)
    if model is not None:
        records.append(RecordModelVersion(*model))
    policy = cache_policy(task.spec, settings)
    digest = result_key(task.spec, result) if policy is not None else None
    if policy is not None and digest is not None and result is not None:
        entry = CacheEntry(task_id=task.name, result=dict(result), stored_at=completed)
        records.append(StoreCachedResult(digest, entry, policy.ttl_seconds))
    return records


def running(task: TaskView, outcome: Outcome, now: datetime, settings: Settings) -> Plan:
    """The Job runs, or waits for its pod. The skip-a-write rule: nothing is written
    while nothing a reader needs changed, nor for a pod still Pending at the same
    attempt, nor while the Job controller has yet to count an ended pod or to
    complete after its success verdict."""
    current = task.status  # decoded once: this runs for most Job events
    status = TaskStatus(
        phase=cond.PHASE_RUNNING, job_name=task.name, attempts=outcome.attempts,
        started_at=outcome.started_at,
        worker_host=outcome.worker_host or current.get("workerHost"),
        reason=outcome.reason or cond.REASON_RUNNING,
    )  # fmt: skip
    if status.unchanged_in(current):
        return Plan()
    known = current.get("attempts")
    if outcome.phase == "Pending" and known is not None and outcome.attempts <= int(known):
        # Nothing a reader needs until a pod runs: save the write. A Job the
        # controller has not synced yet says 0 attempts; attempts never go back.
        return Plan()
    if outcome.succeeding or outcome.settling:
        # A pod ended and the Job controller has not said what that means yet
        # (Complete, a retry, Failed): its next update does, and we write then.
        return Plan()
    pod_runs = outcome.phase == "Running"
    conditions = cond.set_condition(
        current.get("conditions"), type=cond.TYPE_RUNNING,
        status=cond.STATUS_TRUE if pod_runs else cond.STATUS_FALSE,
        reason=cond.REASON_RUNNING if pod_runs else "PodPending",
        message=f"attempt {outcome.attempts}", now=now, observed_generation=task.generation,
    )  # fmt: skip
    records: tuple[RecordAction, ...] = ()
    if pod_runs:
        # A finished pod of a running Job is a failed earlier attempt.
        failed_before = outcome.failed_attempts > 0 and outcome.exit_code is not None
        records = (MarkProcessing(outcome.started_at or now, _host(task, outcome, settings),
                                  outcome.attempts, outcome.failed_attempts,
                                  (outcome.task_error or "") if failed_before else "",
                                  outcome.exit_code if failed_before else None),)  # fmt: skip
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
        records.append(
            MarkProcessing(outcome.started_at, host, outcome.attempts, outcome.failed_attempts)
        )
    reason = outcome.reason or (cond.REASON_SUCCEEDED if succeeded else cond.REASON_FAILED)
    conditions = cond.set_condition(
        task.status.get("conditions"), type=cond.TYPE_RUNNING, status=cond.STATUS_FALSE,
        reason=reason, message="job finished", now=completed,
        observed_generation=task.generation,
    )  # fmt: skip
    verdict = sla.end_verdict(task, completed, settings.sla_for(task.task_type))
    if verdict.missed:
        conditions = sla_conditions(conditions, verdict, completed, task.generation)
    status: TaskStatus
    cost = cost_of(task, outcome, completed, settings)
    if succeeded:
        records.append(MarkCompleted(outcome.result or {}, completed, cost))
        records += cache_records(task, outcome.result, completed, settings)
        status = succeeded_status(task, outcome, conditions, completed).updated(cost=cost)
        after: tuple[AfterAction, ...] = ()  # the Succeeded condition says it all
    else:
        failure = replace(failure_of(task, outcome, completed, settings), cost=cost)
        records.append(RecordFailure(failure))
        status = failed_status(
            conditions, failure, task.generation, condition_message=outcome.message or reason
        ).updated(started_at=outcome.started_at, worker_host=outcome.worker_host, cost=cost)
        after = (PostEvent(reason, _ended(f"failed ({reason})", outcome), warning=True),)
    if verdict.missed:
        status = status.updated(sla_breached=sla.breached_list(sla.recorded(task.status), verdict))
    ended = replace(task_ended(task, succeeded, outcome.started_at, completed, settings), cost=cost)
    judged = (SlaJudged(task.task_type.value, verdict),) if not verdict.empty else ()
    return Plan(records=tuple(records), status=status, after=(*after, ended, *judged))


def cost_of(task: TaskView, outcome: Outcome, completed: datetime, settings: Settings) -> TaskCost:
    """Requests x run time (the Job's start, else the start the status saw, to the
    end; 0 if it never started) plus the provider usage the task reported, at the
    configured prices."""
    started = outcome.started_at or parse_time(task.status.get("startedAt"))
    seconds = max(0.0, (completed - started).total_seconds()) if started is not None else 0.0
    requested = container_resources(task.spec, settings.resources_for(task.task_type.value))
    return task_cost(requested["requests"], seconds, outcome.usage, settings.cost)


def _ended(verb: str, outcome: Outcome) -> str:
    return f"task {verb} after {outcome.attempts} attempt(s)"


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
        worker_host=outcome.worker_host or settings.worker_host or "", log_pod=outcome.ended_pod,
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


def deleted(body: Mapping[str, Any]) -> Plan:
    """The task resource was deleted: its Job goes with it (owner reference); the
    Redis record says cancelled unless an outcome was already recorded."""
    phase = (body.get("status") or {}).get("phase")
    return deletion(phase, str((body.get("spec") or {}).get("type") or "unknown"))


def deletion(phase: str | None, task_type: str) -> Plan:
    """`deleted` of a task known by its phase and type (a view of it)."""
    if phase in cond.TERMINAL_PHASES:
        return Plan()
    return Plan(records=(MarkCancelled(task_type),))


def retention_expired(task: TaskView | None, now: datetime, retention_seconds: float) -> bool:
    """A finished Job may go once its task's outcome is recorded and retention passed."""
    if task is None or task.phase not in cond.TERMINAL_PHASES:
        return False  # outcome not recorded yet (or the owner is gone: GC's job)
    completed = parse_time(task.status.get("completedAt"))
    return completed is not None and (now - completed).total_seconds() >= retention_seconds
