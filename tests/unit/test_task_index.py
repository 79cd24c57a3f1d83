"""The task index: one view per task, phases that never move back, and the waiting
set and running counts it maintains on every change, checked against their
brute-force definitions (scans over every task) after random operation sequences."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from devskyy_operator.controller.index import TaskIndex
from devskyy_operator.crd.conditions import PHASE_QUEUED, PHASE_RUNNING, WAITING_PHASES
from devskyy_operator.crd.status import TaskStatus, phase_rank
from devskyy_operator.crd.task_view import TaskView, task_view, task_view_from_body
from tests.unit.factories import INPUTS, T0, body, view

pytestmark = [pytest.mark.unit, pytest.mark.timeout(120)]

Key = tuple[str, str]
KINDS = ("diagnostic", "ml_training", "marketing_campaign")
SPECS = {kind: view("x", kind).spec for kind in KINDS}
SCHEDULED = view(
    "x", "marketing_campaign",
    input={**INPUTS["marketing_campaign"], "schedule_at": "2026-01-05T13:00:00Z"},
).spec  # fmt: skip
PHASES = (None, "Queued", "Running", "Succeeded", "Failed")
QUEUED = TaskStatus(phase=PHASE_QUEUED)


@dataclass
class Reference:
    """The index's state, kept plainly; every derived answer is a scan over it."""

    tasks: dict[Key, TaskView] = field(default_factory=dict)
    inflight: set[Key] = field(default_factory=set)
    deferred: dict[Key, TaskStatus] = field(default_factory=dict)

    def upsert(self, task: TaskView) -> None:
        known = self.tasks.get((task.namespace, task.name))
        if known is None or phase_rank(known.phase) <= phase_rank(task.phase):
            self.written(task)

    def written(self, task: TaskView) -> None:
        key = (task.namespace, task.name)
        self.tasks[key] = task
        if task.phase not in WAITING_PHASES:
            self.inflight.discard(key)
        if task.phase:
            self.deferred.pop(key, None)

    def waiting(self) -> list[TaskView]:
        return [
            t
            for key, t in self.tasks.items()
            if (t.phase == PHASE_QUEUED or (not t.phase and key in self.deferred))
            and key not in self.inflight
        ]

    def holding(self, include: Callable[[str], bool] | None) -> list[TaskView]:
        return [
            t
            for key, t in self.tasks.items()
            if (t.phase == PHASE_RUNNING or key in self.inflight)
            and (include is None or include(key[1]))
        ]


def make_view(
    name: str, phase: str | None, kind: str, tier: str, scheduled: bool, rv: int
) -> TaskView:
    spec = SCHEDULED if scheduled and kind == "marketing_campaign" else SPECS[kind]
    return task_view(
        spec, name=name, namespace="tasks", uid=f"uid-{name}", generation=1, created_at=T0,
        phase=phase, tier=tier, resource_version=str(rv),
    )  # fmt: skip


NAMES = [f"t-{i}" for i in range(6)]
upserts = st.tuples(
    st.sampled_from(["upsert", "written"]), st.sampled_from(NAMES), st.sampled_from(PHASES),
    st.sampled_from(KINDS),
    st.sampled_from(["", "free", "pro"]), st.booleans(), st.integers(min_value=1, max_value=99),
)  # fmt: skip
others = st.tuples(
    st.sampled_from(["remove", "mark_admitted", "release", "defer", "take_deferred"]),
    st.sampled_from(NAMES),
)
operations = st.lists(st.one_of(upserts, others), max_size=60)


def apply(index: TaskIndex, reference: Reference, operation: tuple[Any, ...]) -> None:
    verb, name = operation[0], operation[1]
    key = ("tasks", name)
    if verb in ("upsert", "written"):
        task = make_view(name, *operation[2:])
        getattr(index, verb)(task)
        getattr(reference, verb)(task)
        return
    # The other calls take the task as the index knows it (or, if unknown, a new one).
    task = reference.tasks.get(key) or make_view(name, None, "diagnostic", "", False, 0)
    if verb == "remove":
        index.remove(*key)
        reference.tasks.pop(key, None)
        reference.inflight.discard(key)
        reference.deferred.pop(key, None)
    elif verb == "mark_admitted":
        index.mark_admitted(task)
        if key in reference.tasks:
            reference.inflight.add(key)
    elif verb == "release":
        index.release(task)
        reference.inflight.discard(key)
    elif verb == "defer":
        index.defer(task, QUEUED)
        reference.deferred[key] = QUEUED
    else:
        assert index.take_deferred(task) == reference.deferred.pop(key, None)


def names(tasks: Any) -> list[tuple[str, str | None, str]]:
    return sorted((t.name, t.phase, t.resource_version) for t in tasks)


def counts_by_type(tasks: list[TaskView]) -> dict[str, int]:
    found: dict[str, int] = {}
    for t in tasks:
        found[t.task_type.value] = found.get(t.task_type.value, 0) + 1
    return found


def counts_by_type_and_tier(tasks: list[TaskView]) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for t in tasks:
        pair = (t.task_type.value, t.tier)
        found[pair] = found.get(pair, 0) + 1
    return found


def check(index: TaskIndex, reference: Reference) -> None:
    assert names(index.all()) == names(reference.tasks.values())
    assert set(index.inflight) == reference.inflight
    assert dict(index.deferred) == reference.deferred
    waiting = reference.waiting()
    assert names(index.waiting()) == names(waiting)
    for kinds in (["diagnostic"], ["ml_training", "marketing_campaign"], []):
        assert names(index.waiting(kinds)) == names(t for t in waiting if t.task_type in kinds)
    assert index.waiting_by_type() == counts_by_type(waiting)
    assert names(index.scheduled()) == names(t for t in waiting if t.not_before is not None)
    held_back = [t for t in waiting if (t.namespace, t.name) in reference.deferred]
    assert names(index.held_back()) == names(held_back)
    for include in (None, lambda name: name in ("t-1", "t-2", "t-5")):
        holding = reference.holding(include)
        assert index.running_by_type(include) == counts_by_type(holding)
        assert index.running_by_type_and_tier(include) == counts_by_type_and_tier(holding)


@settings(max_examples=400, deadline=None)
@given(operations)
def test_the_derived_sets_and_counts_match_their_definitions(
    steps: list[tuple[Any, ...]],
) -> None:
    index, reference = TaskIndex(), Reference()
    for operation in steps:
        apply(index, reference, operation)
        check(index, reference)


@pytest.mark.parametrize(
    ("known", "event", "kept"),
    [
        (None, "Queued", "Queued"),
        ("Queued", "Running", "Running"),
        ("Running", "Queued", "Running"),  # a late event does not undo our own patch
        ("Running", None, "Running"),
        ("Succeeded", "Running", "Succeeded"),
        ("Failed", "Queued", "Failed"),
        ("Running", "Failed", "Failed"),
    ],
)
def test_the_index_never_moves_a_phase_back(
    known: str | None, event: str | None, kept: str
) -> None:
    index = TaskIndex()
    if known is not None:
        index.upsert(task_view_from_body(body(phase=known)))
    index.upsert(task_view_from_body(body(phase=event)))
    assert index.tasks[("tasks", "task-1")].phase == kept


def test_a_status_write_of_ours_is_taken_whatever_its_phase() -> None:
    index = TaskIndex()
    index.upsert(task_view_from_body(body(phase="Failed")))  # someone else wrote it
    index.written(task_view_from_body(body(phase="Running")))  # our patch undid it
    assert index.tasks[("tasks", "task-1")].phase == "Running"
    assert index.running_by_type() == {"diagnostic": 1}
    index.upsert(task_view_from_body(body(phase="Running")))  # that patch's own event
    assert index.tasks[("tasks", "task-1")].phase == "Running"


def test_a_task_admitted_holds_its_slot_until_released_or_seen_running() -> None:
    index = TaskIndex()
    queued = task_view_from_body(body(phase="Queued"))
    index.upsert(queued)
    assert index.waiting() == [queued]
    assert index.running_by_type() == {}
    index.mark_admitted(queued)
    assert index.waiting() == []
    assert index.running_by_type() == {"diagnostic": 1}
    index.release(queued)
    assert index.waiting() == [queued]
    assert index.running_by_type() == {}
    index.mark_admitted(queued)
    index.written(task_view_from_body(body(phase="Running")))  # the status patch's answer
    assert index.inflight == set()
    assert index.running_by_type() == {"diagnostic": 1}
    index.upsert(task_view_from_body(body(phase="Succeeded")))
    assert index.running_by_type() == {}
    assert index.waiting() == []


def test_the_index_keeps_a_view_without_its_spec_model() -> None:
    index = TaskIndex()
    parsed = task_view_from_body(body(phase="Queued"))
    assert parsed._spec is not None  # built while validating
    index.upsert(parsed)
    kept = index.tasks[("tasks", "task-1")]
    assert kept._spec is None
    assert kept.spec == parsed.spec  # rebuilt from its JSON when read
    assert kept._spec is not None


def test_a_view_keeps_what_its_readers_read() -> None:
    raw = body(
        "task-7", "marketing_campaign", phase="Queued",
        input={**INPUTS["marketing_campaign"], "schedule_at": "2026-01-05T13:00:00Z"},
        annotations={"devskyy.io/source": "api", "devskyy.io/enqueued-at": "2026-01-05T12:00:00.5Z",
                     "kubectl.kubernetes.io/last-applied-configuration": "{}"},
    )  # fmt: skip
    raw["metadata"]["labels"] = {"devskyy.io/tier": "pro", "devskyy.io/user-id": "alice"}
    raw["metadata"]["resourceVersion"] = "42"
    raw["status"] = {"phase": "Queued", "conditions": [{"type": "Admitted", "status": "False"}]}
    task = task_view_from_body(raw).without_model()
    assert (task.tier, task.source, task.resource_version) == ("pro", "api", "42")
    assert task.queued_at == T0 + timedelta(milliseconds=500)
    assert task.not_before == T0 + timedelta(hours=1)
    assert task.priority == task.spec.priority
    assert task.task_type.value == "marketing_campaign"
    assert task.status == raw["status"]
    task.status["phase"] = "changed"  # each read is a fresh dict: the view cannot change
    assert task.status["phase"] == "Queued"
    assert task.user_id == "alice"
    other = task_view_from_body(json.loads(json.dumps(raw)))  # fresh strings, as from a watch
    assert other.namespace is task.namespace
    assert other.tier is task.tier
    plain = task_view_from_body(body())
    assert (plain.tier, plain.source, plain.status, plain.queued_at) == ("", "", {}, T0)


def test_a_later_version_of_a_known_task_reuses_its_validated_spec() -> None:
    """A status write's answer or watch event keeps the spec validated before (no
    second validation); everything outside the spec is read from the new body,
    and a different spec (or a new task of the same name) is validated afresh."""
    raw = body("task-8", "marketing_campaign")
    raw["metadata"].update(uid="u-1", resourceVersion="1", generation=1)
    first = task_view_from_body(raw)
    later = json.loads(json.dumps(raw))
    later["metadata"].update(resourceVersion="2", labels={"devskyy.io/tier": "pro"})
    later["status"] = {"phase": "Running", "jobName": "task-8"}
    again = task_view_from_body(later, first)
    assert again.spec is first.spec  # reused, not validated again
    assert (again.phase, again.tier, again.resource_version) == ("Running", "pro", "2")
    assert again.status == later["status"]
    assert again == task_view_from_body(later)  # the same view as a full parse gives
    reborn = json.loads(json.dumps(later))
    reborn["metadata"]["uid"] = "u-2"
    assert task_view_from_body(reborn, first).spec is not first.spec
    changed = json.loads(json.dumps(later))
    changed["spec"]["priority"] = 7
    assert task_view_from_body(changed, first).priority == 7
    invalid = json.loads(json.dumps(later))
    invalid["spec"]["priority"] = "not a number"
    with pytest.raises(ValidationError):
        task_view_from_body(invalid, first)
