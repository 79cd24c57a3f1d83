"""What the reconciler is to do about one task: a `Plan` of actions (pure data).

The decisions (`decide.py`, `refusals.py`, `forged.py`) return plans; the
reconciler carries them out. A plan has three parts, run in this order:

1. `records`: Redis writes (task hash, the final failure's DLQ record), so a
   terminal status always has its records and a crash replays to the same end;
2. `status`: at most one status patch, made only if the task is unchanged
   since it was read (resourceVersion precondition): one write per transition;
3. `after`: events and counters, only once that patch went through (or when
   there is none), so a stale decision that loses its write leaves no trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devskyy_agents.models import TaskSpec
from devskyy_operator.admission.sla import Verdict
from devskyy_operator.cache.key import CacheEntry
from devskyy_operator.cost.model import TaskCost
from devskyy_operator.crd.status import TaskStatus
from devskyy_operator.deadletter.record import FinalFailure


@dataclass(frozen=True)
class EnsureRecord:
    """Create the task hash of a task that never passed the API (kubectl apply)."""

    spec: TaskSpec
    created_at: datetime
    source: str
    tier: str = ""  # the CR's devskyy.io/tier label, when it carries one


@dataclass(frozen=True)
class MarkProcessing:
    """Task hash -> processing with this attempt's start, node and number."""

    started_at: datetime
    worker_host: str
    attempts: int
    failed_attempts: int = 0  # retried failures so far: the history's attempt_failed
    last_error: str = ""  # what the last failed attempt said, when known
    last_exit_code: int | None = None


@dataclass(frozen=True)
class MarkCompleted:
    """Task hash -> completed with the task's output (a stored one: `cached_from`)."""

    result: Mapping[str, Any]
    completed_at: datetime
    cost: TaskCost | None = None
    cached_from: str | None = None  # the task whose stored result this is (a cache hit)


@dataclass(frozen=True)
class StoreCachedResult:
    """Result cache: keep a succeeded task's output under its key for `ttl_seconds`."""

    digest: str
    entry: CacheEntry
    ttl_seconds: int


@dataclass(frozen=True)
class RecordModelVersion:
    """A succeeded ML task named a model version: the newest known, unless a newer is."""

    model_id: str
    version: str


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
class CountCacheHit:
    """A task served from the result cache (misses count where they are looked up)."""

    task_type: str


@dataclass(frozen=True)
class TaskEnded:
    """Count a finished task: success counter, duration, requested resources x time."""

    task_type: str
    user_id: str
    succeeded: bool
    run_seconds: float | None  # None: it never started
    requests: Mapping[str, float] = field(default_factory=dict)  # cores, bytes
    cost: TaskCost | None = None  # counted in devskyy_task_cost_total


@dataclass(frozen=True)
class SlaJudged:
    """Count objectives decided now: each in the total, its misses as breaches."""

    task_type: str
    verdict: Verdict


@dataclass(frozen=True)
class DeleteJob:
    """Delete the task's Job (this uid only) and, through the garbage collector, its
    pods: the task failed while the Job would have run on (`decide.fail_now`)."""

    uid: str


RecordAction = (
    EnsureRecord
    | MarkProcessing
    | MarkCompleted
    | RecordFailure
    | MarkCancelled
    | StoreCachedResult
    | RecordModelVersion
)
AfterAction = PostEvent | TaskEnded | CountCacheHit | DeleteJob | SlaJudged


@dataclass(frozen=True)
class Plan:
    records: tuple[RecordAction, ...] = ()
    status: TaskStatus | None = None
    after: tuple[AfterAction, ...] = ()
    note: str | None = None  # what was decided and why, for the log
    reconcile_after: bool = False  # decide again on the patched status (an undone outcome)
    # The status is Queued and may wait for the next admission round: admitted
    # there, the task gets one status write (Running) instead of two.
    deferrable: bool = False

    @property
    def empty(self) -> bool:
        return not self.records and self.status is None and not self.after
