"""An in-memory view of every task the operator watches, fed by watch events.

Admission decides over all waiting tasks at once; reading them from this index
(rather than listing the API on every decision) keeps admission O(tasks) per
round instead of O(tasks) API bytes per event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devskyy_operator.conditions import PHASE_QUEUED, PHASE_RUNNING
from devskyy_operator.task_view import TaskView


@dataclass
class TaskIndex:
    tasks: dict[tuple[str, str], TaskView] = field(default_factory=dict)
    bodies: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    # Admitted by this process but not yet seen as Running in a watch event.
    inflight: dict[tuple[str, str], str] = field(default_factory=dict)

    def upsert(self, task: TaskView, body: Mapping[str, Any] | None = None) -> None:
        key = (task.namespace, task.name)
        self.tasks[key] = task
        if body is not None:
            self.bodies[key] = body
        if task.phase not in (None, PHASE_QUEUED):
            self.inflight.pop(key, None)

    def remove(self, namespace: str, name: str) -> None:
        self.tasks.pop((namespace, name), None)
        self.bodies.pop((namespace, name), None)
        self.inflight.pop((namespace, name), None)

    def mark_admitted(self, task: TaskView) -> None:
        self.inflight[(task.namespace, task.name)] = task.task_type.value

    def waiting(self) -> list[TaskView]:
        return [
            t
            for key, t in self.tasks.items()
            if t.phase in (None, PHASE_QUEUED) and key not in self.inflight
        ]

    def running_by_type(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        running = {k for k, t in self.tasks.items() if t.phase == PHASE_RUNNING}
        for key in running:
            kind = self.tasks[key].task_type.value
            counts[kind] = counts.get(kind, 0) + 1
        for key, kind in self.inflight.items():
            if key not in running:
                counts[kind] = counts.get(kind, 0) + 1
        return counts

    def all(self) -> Iterable[TaskView]:
        return self.tasks.values()
