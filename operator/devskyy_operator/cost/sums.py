"""Costs summed per user or per task type (pure): what GET /v1/costs answers.

The entries are the cost index's members, "task_id type user micros" (written by
the task hash's finishing script, redisq/lua.py MARK_FINISHED), so a sum is one
range read and integer additions, never a read of every task hash.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

GroupBy = Literal["user", "type"]


@dataclass(frozen=True)
class CostEntry:
    task_id: str
    task_type: str
    user_id: str
    micros: int


@dataclass(frozen=True)
class CostGroup:
    key: str
    micros: int
    tasks: int


def parse_entry(member: str) -> CostEntry | None:
    """One cost index member, or None when it is not one (skipped, never summed)."""
    parts = member.split(" ")
    if len(parts) != 4 or not parts[3].isdigit():
        return None
    return CostEntry(parts[0], parts[1], parts[2], int(parts[3]))


def sum_costs(entries: Iterable[CostEntry], group_by: GroupBy) -> list[CostGroup]:
    """Totals per group, the most expensive first (then by key)."""
    totals: dict[str, tuple[int, int]] = {}
    for entry in entries:
        key = entry.user_id if group_by == "user" else entry.task_type
        micros, tasks = totals.get(key, (0, 0))
        totals[key] = (micros + entry.micros, tasks + 1)
    groups = [CostGroup(key, micros, tasks) for key, (micros, tasks) in totals.items()]
    return sorted(groups, key=lambda g: (-g.micros, g.key))
