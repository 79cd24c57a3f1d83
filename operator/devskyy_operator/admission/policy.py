"""Which queued tasks get a Job now: priority first, FIFO inside a priority, per-type
limits, and per-tier shares of them (`admission.tiers`).

Pure decisions over TaskViews, so the handler that calls this is a thin loop and
the ordering rules are property-tested without a cluster. Time is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from devskyy_operator.crd.conditions import WAITING_PHASES
from devskyy_operator.crd.task_view import TaskView


def admission_key(task: TaskView) -> tuple[int, datetime, datetime, str]:
    """Sort key: higher priority first, then earliest queued, then creation, then name."""
    return (-task.priority, task.queued_at, task.created_at, task.name)


def not_before(task: TaskView) -> datetime | None:
    """The earliest time the task may start (marketing `schedule_at`), or None."""
    return task.not_before  # `spec.scheduled_for()`, kept by the view: rounds read it often


def is_due(task: TaskView, now: datetime | None) -> bool:
    """True when the task may start at `now`.

    Without a clock a scheduled task is never due: starting a campaign early is
    the one mistake admission must not make.
    """
    start = not_before(task)
    if start is None:
        return True
    return now is not None and now >= start


def is_waiting(task: TaskView) -> bool:
    """Only tasks not yet admitted compete for slots."""
    return task.phase in WAITING_PHASES


def open_kinds(limits: Mapping[str, int], running_by_type: Mapping[str, int]) -> set[str]:
    """The task types with a free slot: `admit` chooses among their tasks only, so a
    caller may hand it only theirs (a backlog of a full type costs nothing)."""
    return {kind for kind, limit in limits.items() if limit > running_by_type.get(kind, 0)}


def admit(
    candidates: Sequence[TaskView],
    running_by_type: Mapping[str, int],
    limits: Mapping[str, int],
    now: datetime | None = None,
    *,
    tier_caps: Mapping[tuple[str, str], int] | None = None,
    running_by_tier: Mapping[tuple[str, str], int] | None = None,
) -> list[TaskView]:
    """The tasks to start now, in start order.

    Per type, free slots = limit - running (never negative); the best waiting,
    due tasks of that type fill them. A limit of 0 holds the type (its tasks
    stay Queued), as does a type absent from `limits`; `Settings.concurrency`
    always names every type. Duplicated names count once.

    `tier_caps` bounds what one tier may hold of a type ((type, tier) -> running
    at most, counted with `running_by_tier`): a task over its tier's share is
    passed over and the slot goes to the next best task of another tier.
    """
    caps = tier_caps or {}
    held: dict[tuple[str, str], int] = dict(running_by_tier or {})
    free = {
        kind: max(0, limits.get(kind, 0) - running_by_type.get(kind, 0))
        for kind in {t.task_type.value for t in candidates}
    }
    slots = sum(free.values())
    chosen: list[TaskView] = []
    seen: set[tuple[str, str]] = set()
    for task in sorted(candidates, key=admission_key):
        if not slots:
            break  # every slot is taken: no later task can be chosen
        identity = (task.namespace, task.name)
        if identity in seen or not is_waiting(task) or not is_due(task, now):
            continue
        seen.add(identity)
        kind = task.task_type.value
        share = (kind, task.tier)
        if share in caps and held.get(share, 0) >= caps[share]:
            continue
        if free[kind] > 0:
            free[kind] -= 1
            slots -= 1
            held[share] = held.get(share, 0) + 1
            chosen.append(task)
    return chosen


def queue_position(task: TaskView, candidates: Sequence[TaskView]) -> int:
    """1-based place of `task` among the waiting tasks of its type (1 = next to start).

    The task itself counts even when absent from `candidates`.
    """
    ahead = {
        (other.namespace, other.name)
        for other in candidates
        if other.task_type is task.task_type
        and is_waiting(other)
        and (other.namespace, other.name) != (task.namespace, task.name)
        and admission_key(other) < admission_key(task)
    }
    return len(ahead) + 1
