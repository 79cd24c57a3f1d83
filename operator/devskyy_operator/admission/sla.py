"""Service-level objectives of a task: when each bound passes and whether it was met.

Pure: the operator (status condition, counters, deadline timer) and the API's
compliance report (`GET /v1/sla`) judge with these functions, so a task is
judged the same way wherever it is looked at. Time is passed in.

Each objective of a task is judged exactly once: the queue wait when the task is
admitted, or earlier when its bound passes while it still waits; the completion
when the task ends, or earlier when its bound passes while it still runs. A
missed objective is written into `status.slaBreached` with the `SLABreached`
condition; what is written there has been counted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from devskyy_operator.crd.conditions import SLA_COMPLETION as COMPLETION
from devskyy_operator.crd.conditions import SLA_OBJECTIVES as OBJECTIVES
from devskyy_operator.crd.conditions import SLA_QUEUE_WAIT as QUEUE_WAIT
from devskyy_operator.crd.conditions import TERMINAL_PHASES
from devskyy_operator.crd.conditions import SlaObjectiveName as Objective
from devskyy_operator.crd.task_view import TaskView, parse_time
from devskyy_operator.settings import SlaObjective

__all__ = ["COMPLETION", "OBJECTIVES", "QUEUE_WAIT", "Objective"]


def bound_of(objective: SlaObjective, name: str) -> float:
    return objective.queue_wait_seconds if name == QUEUE_WAIT else objective.completion_seconds


def sla_start(queued_at: datetime, scheduled_for: datetime | None) -> datetime:
    """The clock starts at the enqueue, or at `schedule_at` when the task was held."""
    return max(queued_at, scheduled_for) if scheduled_for is not None else queued_at


@dataclass(frozen=True)
class Miss:
    """One objective missed: how long the task took (so far) against its bound."""

    objective: Objective
    seconds: float
    bound: float
    ended: bool  # False: the bound passed while the task still waits or runs

    def describe(self) -> str:
        what = "queue wait" if self.objective == QUEUE_WAIT else "completion"
        so_far = "" if self.ended else " and counting"
        return f"{what} {self.seconds:.1f}s{so_far}, objective {self.bound:g}s"


@dataclass(frozen=True)
class Verdict:
    """Objectives decided now: each counts once in the total, the misses also as breaches."""

    judged: tuple[Objective, ...] = ()
    missed: tuple[Miss, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.judged


def _miss(
    name: Objective, start: datetime, end: datetime, bound: float, ended: bool
) -> Miss | None:
    seconds = (end - start).total_seconds()
    return Miss(name, seconds, bound, ended) if seconds > bound else None


def judge(
    name: Objective, start: datetime, end: datetime | None, now: datetime, objective: SlaObjective
) -> Verdict:
    """One objective: decided at `end` if it came, else missed if its bound passed by `now`."""
    bound = bound_of(objective, name)
    if end is not None:
        miss = _miss(name, start, end, bound, ended=True)
        return Verdict((name,), (miss,) if miss else ())
    miss = _miss(name, start, now, bound, ended=False)
    return Verdict((name,), (miss,)) if miss else Verdict()


def merge(*verdicts: Verdict) -> Verdict:
    return Verdict(
        tuple(n for v in verdicts for n in v.judged), tuple(m for v in verdicts for m in v.missed)
    )


# ----------------------------------------------------------------- a task's view


def task_start(task: TaskView) -> datetime:
    return sla_start(task.queued_at, task.not_before)


def recorded(status: Mapping[str, Any]) -> frozenset[str]:
    """Objectives already judged missed (and counted): `status.slaBreached`."""
    return frozenset(str(name) for name in status.get("slaBreached") or ())


def live_verdict(task: TaskView, now: datetime, objective: SlaObjective) -> Verdict:
    """Bounds that passed while the task still waits or runs (the deadline timer)."""
    if task.phase in TERMINAL_PHASES:
        return Verdict()
    done = recorded(task.status)
    start = task_start(task)
    verdicts = []
    if QUEUE_WAIT not in done and not task.status.get("admittedAt"):
        verdicts.append(judge(QUEUE_WAIT, start, None, now, objective))
    if COMPLETION not in done:
        verdicts.append(judge(COMPLETION, start, None, now, objective))
    return merge(*verdicts)


def admission_verdict(task: TaskView, admitted_at: datetime, objective: SlaObjective) -> Verdict:
    """The queue wait is decided when the Job is created (unless its miss was counted)."""
    done = recorded(task.status)
    start = task_start(task)
    verdicts = []
    if QUEUE_WAIT not in done:
        verdicts.append(judge(QUEUE_WAIT, start, admitted_at, admitted_at, objective))
    if COMPLETION not in done:
        verdicts.append(judge(COMPLETION, start, None, admitted_at, objective))
    return merge(*verdicts)


def end_verdict(task: TaskView, completed_at: datetime, objective: SlaObjective) -> Verdict:
    """The completion is decided when the task ends (unless its miss was counted).

    The queue wait of an admitted task was decided at its admission; a task that
    ends without admission (refused) has no queue wait to judge."""
    if COMPLETION in recorded(task.status):
        return Verdict()
    return judge(COMPLETION, task_start(task), completed_at, completed_at, objective)


def next_deadline(task: TaskView, objective: SlaObjective) -> datetime | None:
    """When the next still-open objective of a live task is missed, if it has one."""
    if task.phase in TERMINAL_PHASES:
        return None
    done = recorded(task.status)
    start = task_start(task)
    bounds = []
    if QUEUE_WAIT not in done and not task.status.get("admittedAt"):
        bounds.append(objective.queue_wait_seconds)
    if COMPLETION not in done:
        bounds.append(objective.completion_seconds)
    return start + timedelta(seconds=min(bounds)) if bounds else None


def breached_list(before: Collection[str], verdict: Verdict) -> list[Objective]:
    """`status.slaBreached` after `verdict`: in objective order, each once."""
    names = set(before) | {m.objective for m in verdict.missed}
    return [name for name in OBJECTIVES if name in names]


# ----------------------------------------------------------------- compliance report


@dataclass(frozen=True)
class Compliance:
    """How a type's tasks of a window did against each objective."""

    task_type: str
    objective: SlaObjective
    judged: Mapping[str, int]
    met: Mapping[str, int]

    def ratio(self, name: str) -> float | None:
        total = self.judged.get(name, 0)
        return self.met.get(name, 0) / total if total else None

    def compliant(self, name: str) -> bool | None:
        ratio = self.ratio(name)
        return None if ratio is None else ratio >= self.objective.target


def ended_task_verdict(
    *,
    queued_at: datetime,
    scheduled_for: datetime | None,
    admitted_at: datetime | None,
    completed_at: datetime,
    objective: SlaObjective,
) -> Verdict:
    """Both objectives of a task that ended, from its recorded times (the history)."""
    start = sla_start(queued_at, scheduled_for)
    completion = judge(COMPLETION, start, completed_at, completed_at, objective)
    if admitted_at is None:
        return completion
    return merge(judge(QUEUE_WAIT, start, admitted_at, admitted_at, objective), completion)


def schedule_of(task_input: Mapping[str, Any] | None) -> datetime | None:
    """`schedule_at` of a stored task input (marketing), when it holds a time."""
    return parse_time((task_input or {}).get("schedule_at"))


def compliance(task_type: str, objective: SlaObjective, verdicts: list[Verdict]) -> Compliance:
    judged: dict[str, int] = dict.fromkeys(OBJECTIVES, 0)
    met: dict[str, int] = dict.fromkeys(OBJECTIVES, 0)
    for verdict in verdicts:
        missed = {m.objective for m in verdict.missed}
        for name in verdict.judged:
            judged[name] += 1
            met[name] += name not in missed
    return Compliance(task_type, objective, judged, met)
