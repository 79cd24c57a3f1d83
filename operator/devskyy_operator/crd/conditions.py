"""Task phases, condition types and reasons, and pure helpers for `status.conditions`.

Kueue-style: a small fixed set of condition types in the metav1.Condition shape,
each carrying `observedGeneration`; reasons are CamelCase constants so dashboards
and alerts can match on them. Time is passed in, never read here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal, get_args

from devskyy_agents.clock import utc_iso

# --- phases (status.phase; the status model and so the CRD enum use Phase). A
# cancelled task has no phase of its own: cancelling deletes the resource.
Phase = Literal["Queued", "Running", "Succeeded", "Failed"]
PHASE_QUEUED: Final = "Queued"
PHASE_RUNNING: Final = "Running"
PHASE_SUCCEEDED: Final = "Succeeded"
PHASE_FAILED: Final = "Failed"
PHASES: tuple[str, ...] = get_args(Phase)
TERMINAL_PHASES = frozenset({PHASE_SUCCEEDED, PHASE_FAILED})
# Not admitted yet: no phase (the operator has not seen the task) or Queued.
WAITING_PHASES = frozenset({None, "", PHASE_QUEUED})

# --- condition types
#   Admitted      True once the task got a concurrency slot and its Job was created.
#   Running       True while a pod of the Job runs; False once the Job is finished.
#   Succeeded     True when the Job completed; False when it failed or was cancelled.
#   Failed        True when the task finally failed (no retry left, permanent, deadline).
#   DeadLettered  True once the DLQ record devskyy:dlq:<id> was written.
#   SLABreached   True once the task missed a service-level objective of its type
#                 (queue wait or completion, Settings.sla), set when the bound passed.
TYPE_ADMITTED = "Admitted"
TYPE_RUNNING = "Running"
TYPE_SUCCEEDED = "Succeeded"
TYPE_FAILED = "Failed"
TYPE_DEAD_LETTERED = "DeadLettered"
TYPE_SLA_BREACHED = "SLABreached"

STATUS_TRUE = "True"
STATUS_FALSE = "False"
STATUS_UNKNOWN = "Unknown"

# --- reasons (status.reason and condition reasons)
REASON_QUEUED = "Queued"
REASON_ADMITTED = "Admitted"
REASON_RUNNING = "Running"
REASON_SUCCEEDED = "Succeeded"
REASON_CACHE_HIT = "CacheHit"  # succeeded with a stored result, without a Job
REASON_FAILED = "Failed"  # a failure the Job controller gave no reason for
REASON_BACKOFF_LIMIT = "BackoffLimitExceeded"  # the Job controller's reason, passed through
REASON_DEADLINE = "DeadlineExceeded"  # the Job controller's reason, passed through
REASON_PERMANENT = "PermanentFailure"  # Job reason PodFailurePolicy: exit code 42
REASON_JOB_DELETED = "JobDeleted"  # the Job vanished before an outcome was recorded
REASON_INVALID_SPEC = "InvalidSpec"  # the spec failed the pydantic models
REASON_CANCELLED = "Cancelled"
REASON_DEAD_LETTERED = "DeadLettered"
REASON_STATUS_OVERRIDDEN = "StatusOverridden"  # a terminal status the operator did not write
# SLABreached: the first objective missed names the reason; the message lists all.
# The objectives, as `status.slaBreached` and the metrics' `objective` label name them.
SlaObjectiveName = Literal["queue_wait", "completion"]
SLA_QUEUE_WAIT: Final = "queue_wait"
SLA_COMPLETION: Final = "completion"
SLA_OBJECTIVES: tuple[SlaObjectiveName, ...] = get_args(SlaObjectiveName)
REASON_QUEUE_WAIT_EXCEEDED = "QueueWaitExceeded"
REASON_COMPLETION_EXCEEDED = "CompletionExceeded"
# What a task pod ran into (job/pod_problems.py reads them off the pods):
REASON_OOM_KILLED = "OOMKilled"  # the kernel killed the task container at its memory limit
REASON_IMAGE_PULL_FAILED = "ImagePullFailed"  # the kubelet could not pull the image in time
REASON_UNSCHEDULABLE = "Unschedulable"  # the scheduler found no node for the pod in time
REASON_EPHEMERAL_STORAGE = "EphemeralStorageExceeded"  # evicted for its own disk overrun


def _timestamp(now: datetime) -> str:
    """RFC 3339 in UTC with second precision, as metav1.Time serialises."""
    return utc_iso(now, timespec="seconds")


def get_condition(
    conditions: Sequence[Mapping[str, Any]] | None, type: str
) -> dict[str, Any] | None:
    """The condition of `type`, or None."""
    for condition in conditions or ():
        if condition.get("type") == type:
            return dict(condition)
    return None


def set_condition(
    conditions: Sequence[Mapping[str, Any]] | None,
    *,
    type: str,
    status: str,
    reason: str,
    message: str,
    now: datetime,
    observed_generation: int,
) -> list[dict[str, Any]]:
    """A new list with `type` set; `lastTransitionTime` moves only when the status changes.

    The order of existing conditions is kept and a new type is appended, so
    repeated reconciles produce identical lists (no needless status patches).
    """
    if status not in (STATUS_TRUE, STATUS_FALSE, STATUS_UNKNOWN):
        raise ValueError(f"condition status must be True, False or Unknown, not {status!r}")
    previous = get_condition(conditions, type)
    if (
        previous is not None
        and previous.get("status") == status
        and previous.get("lastTransitionTime")
    ):
        transition = str(previous["lastTransitionTime"])
    else:
        transition = _timestamp(now)
    updated = {
        "type": type,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
        "observedGeneration": observed_generation,
    }
    result: list[dict[str, Any]] = []
    replaced = False
    for condition in conditions or ():
        if condition.get("type") == type:
            result.append(updated)
            replaced = True
        else:
            result.append(dict(condition))
    if not replaced:
        result.append(updated)
    return result
