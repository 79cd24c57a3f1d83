"""The one place that maps a Job (and its pods) to a task outcome.

Terminal only from the Job's own terminal conditions, the Job controller's
verdict: `Complete`, or `Failed` with its reason. Since Kubernetes 1.31 the
controller first adds `SuccessCriteriaMet` / `FailureTarget` and adds the final
`Complete` / `Failed` (same reason) only once every pod has terminated; until
then the task is still Running (`terminating=True`), so a pod that is still
writing never races the recorded outcome.

What the pods show that the Job controller cannot see (`pod_problems.py`: an
OOM kill, an eviction for the pod's own storage overrun, a pod stuck Pending)
travels as `Outcome.problem`; a Job that ran out of retries on OOM kills says
OOMKilled, not BackoffLimitExceeded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from devskyy_agents.termination import USAGE_FIELD
from devskyy_agents.usage import UsageLine, parse_usage
from devskyy_operator.crd.conditions import (
    REASON_BACKOFF_LIMIT,
    REASON_DEADLINE,
    REASON_OOM_KILLED,
    REASON_PERMANENT,
    REASON_SUCCEEDED,
)
from devskyy_operator.crd.task_view import parse_time
from devskyy_operator.job.builder import TASK_CONTAINER
from devskyy_operator.job.pod_problems import PodProblem, pod_problem

__all__ = [
    "REASON_BACKOFF_LIMIT",
    "REASON_DEADLINE",
    "REASON_PERMANENT",
    "REASON_SUCCEEDED",
    "TASK_CONTAINER",
    "Outcome",
    "TerminationMessage",
    "job_finished",
    "job_outcome",
    "parse_termination_message",
]

JOB_REASON_POD_FAILURE_POLICY = "PodFailurePolicy"
_EPOCH = datetime.fromtimestamp(0, UTC)

Phase = Literal["Pending", "Running", "Succeeded", "Failed"]


@dataclass(frozen=True)
class Outcome:
    """What the Job says about the task right now."""

    phase: Phase
    reason: str | None
    message: str | None
    attempts: int
    exit_code: int | None
    termination_message: str | None
    result: dict[str, Any] | None
    started_at: datetime | None
    completed_at: datetime | None
    worker_host: str | None
    terminating: bool = False  # verdict reached (FailureTarget/SuccessCriteriaMet), pods ending
    # Attempts that failed and were retried (a final failure is not one of them).
    failed_attempts: int = 0
    succeeding: bool = False  # the verdict is SuccessCriteriaMet: Complete follows
    settling: bool = False  # a pod ended that the Job controller has not counted yet
    task_error: str | None = None  # what the task said went wrong (its termination message)
    task_error_type: str | None = None  # the task's error class, e.g. MissingCredentials
    problem: PodProblem | None = None  # the newest pod's problem the Job cannot see
    ended_pod: str | None = None  # the newest pod that ended: whose log a DLQ record keeps
    usage: tuple[UsageLine, ...] = ()  # provider usage the last finished pod reported

    @property
    def terminal(self) -> bool:
        return self.phase in ("Succeeded", "Failed")


def _true_condition(job: Mapping[str, Any], type: str) -> Mapping[str, Any] | None:
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("type") == type and condition.get("status") == "True":
            return condition  # type: ignore[no-any-return]
    return None


def job_finished(job: Mapping[str, Any]) -> bool:
    """The Job controller's final verdict is in: Complete or Failed (all pods ended)."""
    return any(_true_condition(job, kind) is not None for kind in ("Complete", "Failed"))


def success_settling(job: Mapping[str, Any]) -> bool:
    """A pod succeeded and the Job controller has yet to say what that means: an
    uncounted succeeded pod, or the SuccessCriteriaMet verdict before Complete.
    No decision is taken on such a Job (`decide.running` waits: no pod to look
    at, nothing to write), and the controller's next write follows, so its watch
    event need not start a reconcile. No pod active or ready, none failed: those
    are looked at (a node to record, a problem to find)."""
    if job_finished(job):
        return False
    status = job.get("status") or {}
    uncounted = status.get("uncountedTerminatedPods") or {}
    if any(_int(status.get(k)) for k in ("active", "ready", "failed")) or uncounted.get("failed"):
        return False
    return (
        bool(uncounted.get("succeeded")) or _true_condition(job, "SuccessCriteriaMet") is not None
    )


def _pod_order(pod: Mapping[str, Any]) -> tuple[datetime, datetime, str]:
    metadata = pod.get("metadata") or {}
    status = pod.get("status") or {}
    created = parse_time(metadata.get("creationTimestamp")) or _EPOCH
    started = parse_time(status.get("startTime")) or _EPOCH
    return (created, started, str(metadata.get("name", "")))


def _terminated_state(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The `task` container's terminated state (current, else the last one)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        if status.get("name") != TASK_CONTAINER:
            continue
        for holder in (status.get("state") or {}, status.get("lastState") or {}):
            terminated = holder.get("terminated")
            if terminated:
                return terminated  # type: ignore[no-any-return]
    return None


@dataclass(frozen=True)
class TerminationMessage:
    """What a task pod left in /dev/termination-log: its output JSON on success,
    its failure record (`error`, `error_type`) on failure, or plain text from a
    process that never reached our entrypoint."""

    text: str | None
    data: dict[str, Any] | None  # the message when it is a JSON object

    @property
    def error(self) -> str | None:
        if self.data is None:
            return self.text or None
        error = self.data.get("error")
        return str(error) if error else None

    @property
    def error_type(self) -> str | None:
        value = (self.data or {}).get("error_type")
        return value if isinstance(value, str) and value else None

    @property
    def usage(self) -> tuple[UsageLine, ...]:
        return tuple(parse_usage((self.data or {}).get(USAGE_FIELD)))

    @property
    def output(self) -> dict[str, Any] | None:
        """The task's output: the message without its usage (which becomes the cost)."""
        if self.data is None:
            return None
        return {key: value for key, value in self.data.items() if key != USAGE_FIELD}


def parse_termination_message(text: str | None) -> TerminationMessage:
    """The one reader of the termination message (agents' termination.py writes it)."""
    if not text:
        return TerminationMessage(None, None)
    try:
        value = json.loads(text)
    except ValueError:
        return TerminationMessage(text, None)
    return TerminationMessage(text, value if isinstance(value, dict) else None)


def _task_reason(condition: Mapping[str, Any]) -> str | None:
    """The Job controller's reason in task terms: PodFailurePolicy means exit code 42."""
    reason = condition.get("reason") or None
    if reason == JOB_REASON_POD_FAILURE_POLICY:
        return REASON_PERMANENT
    return str(reason) if reason is not None else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def job_outcome(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> Outcome:
    """Map a batch/v1 Job and its pods (any order) to the task's Outcome."""
    status: Mapping[str, Any] = job.get("status") or {}
    active, succeeded, failed = (_int(status.get(k)) for k in ("active", "succeeded", "failed"))
    ordered = sorted(pods, key=_pod_order)
    finished = [(pod, state) for pod in ordered if (state := _terminated_state(pod)) is not None]
    exit_code: int | None = None
    termination_message: str | None = None
    ended_pod: str | None = None
    if finished:
        state = finished[-1][1]
        ended_pod = (finished[-1][0].get("metadata") or {}).get("name") or None
        code = state.get("exitCode")
        exit_code = code if isinstance(code, int) else None
        termination_message = state.get("message") or None
    hosts = [(pod.get("spec") or {}).get("nodeName") for pod in ordered]
    worker_host = next((host for host in reversed(hosts) if host), None)
    started_at = parse_time(status.get("startTime"))
    report = parse_termination_message(termination_message)
    problems = [found for pod in ordered if (found := pod_problem(pod)) is not None]
    problem = problems[-1] if problems else None
    last_problem = pod_problem(finished[-1][0]) if finished else None

    complete = _true_condition(job, "Complete")
    failed_condition = _true_condition(job, "Failed")
    verdict = _true_condition(job, "SuccessCriteriaMet") or _true_condition(job, "FailureTarget")
    final = complete or failed_condition
    # Pods the controller saw end but has not counted yet are attempts too: without
    # them a pod's end would briefly read as attempt 0 (and cost a status write).
    uncounted = status.get("uncountedTerminatedPods") or {}
    ended = sum(len(uncounted.get(k) or ()) for k in ("succeeded", "failed"))
    attempts = succeeded + failed + ended + (active if final is None else 0)

    if final is not None:
        phase: Phase = "Succeeded" if complete is not None else "Failed"
        reason = REASON_SUCCEEDED if complete is not None else _task_reason(final)
        message = final.get("message") or None
        oom = last_problem is not None and last_problem.reason == REASON_OOM_KILLED
        if reason == REASON_BACKOFF_LIMIT and oom and last_problem is not None:
            reason, message = last_problem.reason, last_problem.message  # retries spent on OOM
        completed_at = parse_time(status.get("completionTime")) or parse_time(
            final.get("lastTransitionTime")
        )
        result = report.output if complete is not None else None
        return Outcome(
            phase=phase,
            reason=reason,
            message=message,
            attempts=max(attempts, 1),
            exit_code=exit_code,
            termination_message=termination_message,
            result=result,
            started_at=started_at,
            completed_at=completed_at,
            worker_host=worker_host,
            failed_attempts=max(0, failed - 1) if complete is None else failed,
            task_error=report.error,
            task_error_type=report.error_type,
            problem=problem,
            ended_pod=ended_pod,
            usage=report.usage,
        )

    running = (
        verdict is not None
        or succeeded + failed + ended > 0
        or _int(status.get("ready")) > 0  # pods need not be listed to know one runs
        or any(
            (pod.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed")
            for pod in ordered
        )
    )
    return Outcome(
        phase="Running" if running else "Pending",
        reason=_task_reason(verdict) if verdict else None,
        message=(verdict.get("message") or None) if verdict else None,
        attempts=attempts,
        exit_code=exit_code,
        termination_message=termination_message,
        result=None,
        started_at=started_at,
        completed_at=None,
        worker_host=worker_host,
        terminating=verdict is not None,
        failed_attempts=failed,
        succeeding=_true_condition(job, "SuccessCriteriaMet") is not None,
        settling=ended > 0,
        task_error=report.error,
        task_error_type=report.error_type,
        problem=problem,
    )
