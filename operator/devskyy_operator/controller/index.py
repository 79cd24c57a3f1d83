"""An in-memory view of every task the operator watches, fed by watch events.

Admission decides over all waiting tasks at once; reading them from this index
(rather than listing the API on every decision) keeps the API out of a round.
The index keeps one TaskView per task (nothing else: no body) and maintains,
on every change, the waiting set and the running counts a round asks for, so
a round costs O(waiting + running), not O(all tasks): with a 10,000-task
backlog a round ran after nearly every watch event.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

from devskyy_operator.crd.conditions import PHASE_QUEUED, PHASE_RUNNING, WAITING_PHASES
from devskyy_operator.crd.status import TaskStatus, phase_rank
from devskyy_operator.crd.task_view import TaskIdentity, TaskView

Key = tuple[str, str]


@dataclass
class TaskIndex:
    """Tasks by (namespace, name). Change it only through its methods: they keep
    the derived sets and counts right (the mappings it shows are read-only)."""

    _tasks: dict[Key, TaskView] = field(default_factory=dict)
    # Admitted by this process but not yet seen as Running in a watch event.
    _inflight: set[Key] = field(default_factory=set)
    # New tasks with their Redis record written and their Queued status not yet:
    # the next admission round admits them (one status write) or writes it.
    _deferred: dict[Key, TaskStatus] = field(default_factory=dict)
    # Derived from the three above, per key, by `_refresh`.
    _waiting: dict[Key, TaskView] = field(default_factory=dict)
    _waiting_by_type: defaultdict[str, dict[Key, TaskView]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    _scheduled: dict[Key, TaskView] = field(default_factory=dict)  # waiting, with a not_before
    _held_back: dict[Key, TaskView] = field(default_factory=dict)  # waiting, Queued write held
    _holding: dict[Key, TaskView] = field(default_factory=dict)  # Running or in flight
    _by_type: Counter[str] = field(default_factory=Counter)
    _by_type_and_tier: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def tasks(self) -> Mapping[Key, TaskView]:
        return self._tasks

    @property
    def inflight(self) -> Collection[Key]:
        return self._inflight

    @property
    def deferred(self) -> Mapping[Key, TaskStatus]:
        return self._deferred

    def upsert(self, task: TaskView) -> None:
        """Take a watch event's view, unless we already know a later phase.

        Phases only move forward (None -> Queued -> Running -> terminal), and the
        operator learns of its own status patches (`written`) before their watch
        events arrive; a late event must not make the index forget them.
        """
        known = self._tasks.get((task.namespace, task.name))
        if known is None or phase_rank(known.phase) <= phase_rank(task.phase):
            self.written(task)

    def written(self, task: TaskView) -> None:
        """Take the view a status patch of ours returned: the newest version there
        is, whatever its phase (a terminal phase someone forged is written back)."""
        key = (task.namespace, task.name)
        self._tasks[key] = task.without_model()
        if task.phase not in WAITING_PHASES:
            self._inflight.discard(key)
        if task.phase:
            self._deferred.pop(key, None)
        self._refresh(key)

    def defer(self, task: TaskIdentity, queued: TaskStatus) -> None:
        key = (task.namespace, task.name)
        self._deferred[key] = queued
        self._refresh(key)

    def take_deferred(self, task: TaskIdentity) -> TaskStatus | None:
        """The Queued status held back for `task` (now written, or not needed)."""
        key = (task.namespace, task.name)
        queued = self._deferred.pop(key, None)
        if queued is not None:
            self._refresh(key)
        return queued

    def remove(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        self._tasks.pop(key, None)
        self._inflight.discard(key)
        self._deferred.pop(key, None)
        self._refresh(key)

    def mark_admitted(self, task: TaskView) -> None:
        """`task` holds a slot from the admission decision on (an indexed task only:
        one deleted meanwhile has no slot to hold)."""
        key = (task.namespace, task.name)
        if key in self._tasks:
            self._inflight.add(key)
            self._refresh(key)

    def release(self, task: TaskView) -> None:
        """An admission that did not happen gives its slot back."""
        key = (task.namespace, task.name)
        self._inflight.discard(key)
        self._refresh(key)

    def waiting(self, kinds: Iterable[str] | None = None) -> list[TaskView]:
        """Queued tasks and new ones whose record is written, not being admitted
        (of the task types `kinds` only, if given)."""
        if kinds is None:
            return list(self._waiting.values())
        return [t for kind in kinds for t in self._waiting_by_type.get(kind, {}).values()]

    def waiting_by_type(self) -> dict[str, int]:
        return {kind: len(tasks) for kind, tasks in self._waiting_by_type.items() if tasks}

    def scheduled(self) -> Iterable[TaskView]:
        """The waiting tasks with an earliest start (the only ones that may not be due)."""
        return self._scheduled.values()

    def held_back(self) -> list[TaskView]:
        """The waiting new tasks whose Queued write is deferred (see `defer`)."""
        return list(self._held_back.values())

    def running_by_type(self, include: Callable[[str], bool] | None = None) -> dict[str, int]:
        """Running and being-admitted tasks per type (of the task names `include` takes)."""
        if include is None:
            return {kind: n for kind, n in self._by_type.items() if n}
        counts: dict[str, int] = {}
        for (_, name), task in self._holding.items():
            if include(name):
                counts[task.task_type.value] = counts.get(task.task_type.value, 0) + 1
        return counts

    def running_by_type_and_tier(
        self, include: Callable[[str], bool] | None = None
    ) -> dict[tuple[str, str], int]:
        """Running and being-admitted tasks per (type, tier), for the tier shares
        (of the task names `include` takes)."""
        if include is None:
            return {pair: n for pair, n in self._by_type_and_tier.items() if n}
        counts: dict[tuple[str, str], int] = {}
        for (_, name), task in self._holding.items():
            if include(name):
                pair = (task.task_type.value, task.tier)
                counts[pair] = counts.get(pair, 0) + 1
        return counts

    def all(self) -> Iterable[TaskView]:
        return self._tasks.values()

    def _refresh(self, key: Key) -> None:
        """Put `key` in (or out of) the waiting set and the running counts, from
        its view, whether it is in flight and whether its Queued write is held."""
        task = self._tasks.get(key)
        waits = (
            task is not None
            and key not in self._inflight
            and (task.phase == PHASE_QUEUED or (not task.phase and key in self._deferred))
        )
        waited = self._waiting.pop(key, None)
        if waited is not None:
            del self._waiting_by_type[waited.task_type.value][key]
            self._scheduled.pop(key, None)
            self._held_back.pop(key, None)
        if waits:
            assert task is not None
            self._waiting[key] = task
            self._waiting_by_type[task.task_type.value][key] = task
            if task.not_before is not None:
                self._scheduled[key] = task
            if key in self._deferred:
                self._held_back[key] = task
        held = self._holding.pop(key, None)
        if held is not None:
            self._count(held, -1)
        if task is not None and (task.phase == PHASE_RUNNING or key in self._inflight):
            self._holding[key] = task
            self._count(task, 1)

    def _count(self, task: TaskView, step: int) -> None:
        self._by_type[task.task_type.value] += step
        self._by_type_and_tier[(task.task_type.value, task.tier)] += step
