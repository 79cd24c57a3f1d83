"""Admission: priority first, FIFO inside a priority, per-type limits, schedule_at."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devskyy_operator.admission.policy import (
    admission_key,
    admit,
    is_due,
    is_waiting,
    not_before,
    open_kinds,
    queue_position,
)
from devskyy_operator.crd.task_view import TaskView, task_view
from tests.unit.factories import INPUTS, T0, view

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


def _stamp(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_highest_priority_first_then_fifo() -> None:
    old_low = view("old-low", priority=1, created=_stamp(0))
    new_high = view("new-high", priority=900, created=_stamp(50))
    old_high = view("old-high", priority=900, created=_stamp(10))
    chosen = admit([old_low, new_high, old_high], {}, {"diagnostic": 2})
    assert [t.name for t in chosen] == ["old-high", "new-high"]


def test_free_slots_are_limit_minus_running_per_type() -> None:
    tasks = [view(f"d-{i}", created=_stamp(i)) for i in range(5)]
    tasks += [view(f"m-{i}", "ml_training", created=_stamp(i)) for i in range(3)]
    chosen = admit(tasks, {"diagnostic": 3, "ml_training": 5}, {"diagnostic": 4, "ml_training": 2})
    assert [t.name for t in chosen] == ["d-0"]


def test_a_limit_of_zero_holds_the_type() -> None:
    tasks = [view("a"), view("b", created=_stamp(1)), view("m", "ml_training")]
    assert [t.name for t in admit(tasks, {}, {"diagnostic": 0, "ml_training": 1})] == ["m"]
    assert [t.name for t in admit(tasks, {}, {"ml_training": 1})] == ["m"]  # absent: held too
    assert [t.name for t in admit(tasks, {}, {"diagnostic": 1, "ml_training": 1})] == ["a", "m"]


def test_same_second_is_fifo_by_enqueue_annotation_then_name() -> None:
    late = view("a-late", annotations={"devskyy.io/enqueued-at": "2026-01-05T12:00:00.900Z"})
    early = view("z-early", annotations={"devskyy.io/enqueued-at": "2026-01-05T12:00:00.100Z"})
    plain_b, plain_a = view("b"), view("a")
    assert [t.name for t in admit([late, early], {}, {"diagnostic": 1})] == ["z-early"]
    assert [t.name for t in admit([plain_b, plain_a], {}, {"diagnostic": 1})] == ["a"]


def test_admitted_or_finished_tasks_do_not_compete() -> None:
    running = view("r", phase="Running", priority=1000)
    queued = view("q", phase="Queued")
    fresh = view("f", created=_stamp(5))
    chosen = admit([running, queued, fresh], {}, {"diagnostic": 5})
    assert [t.name for t in chosen] == ["q", "f"]


def _campaign(name: str, schedule_at: str | None) -> TaskView:
    data = dict(INPUTS["marketing_campaign"])
    if schedule_at is not None:
        data["schedule_at"] = schedule_at
    return view(name, "marketing_campaign", input=data)


def test_schedule_at_holds_a_campaign_until_due() -> None:
    later = _campaign("later", "2026-01-05T13:00:00Z")
    now = _campaign("now", None)
    assert not_before(later) == T0 + timedelta(hours=1)
    assert not_before(now) is None
    limits = {"marketing_campaign": 5}
    assert [t.name for t in admit([later, now], {}, limits, T0)] == ["now"]
    due = T0 + timedelta(hours=1)
    assert [t.name for t in admit([later, now], {}, limits, due)] == ["later", "now"]
    # Without a clock a scheduled campaign is never started early.
    assert [t.name for t in admit([later, now], {}, limits)] == ["now"]


def test_queue_position_is_one_based_per_type() -> None:
    a = view("a", priority=5)
    b = view("b", priority=9)
    other = view("m", "ml_training", priority=1000)
    assert queue_position(b, [a, b, other]) == 1
    assert queue_position(a, [a, b, other]) == 2
    assert queue_position(view("c", priority=0), [a, b]) == 3


_TEMPLATES = {p: view(f"t-{p}", priority=p) for p in (0, 1, 500, 1000)}


@st.composite
def _queues(draw: st.DrawFn) -> list[TaskView]:
    count = draw(st.integers(min_value=0, max_value=25))
    tasks = []
    for i in range(count):
        priority = draw(st.sampled_from(sorted(_TEMPLATES)))
        created = T0 + timedelta(seconds=draw(st.integers(min_value=0, max_value=5)))
        kind = draw(st.sampled_from(["diagnostic", "ml_training"]))
        base = _TEMPLATES[priority]
        spec = base.spec if kind == "diagnostic" else view("x", kind, priority=priority).spec
        task = task_view(spec, name=f"t-{i:03d}", namespace="tasks", uid=str(i), created_at=created)
        tasks.append(task)
    return tasks


@settings(max_examples=150, deadline=None)
@given(
    tasks=_queues(),
    limit=st.integers(min_value=0, max_value=6),
    running=st.integers(min_value=0, max_value=8),
)
def test_admission_properties(tasks: list[TaskView], limit: int, running: int) -> None:
    limits = {"diagnostic": limit, "ml_training": limit}
    chosen = admit(tasks, {"diagnostic": running}, limits)
    for kind, busy in (("diagnostic", running), ("ml_training", 0)):
        mine = [t for t in tasks if t.task_type.value == kind]
        picked = [t for t in chosen if t.task_type.value == kind]
        # Never more than the free slots, and every free slot used when work waits.
        assert len(picked) == min(len(mine), max(0, limit - busy))
        # No waiting task of the type beats a chosen one.
        left = [t for t in mine if t not in picked]
        if picked and left:
            assert max(admission_key(t) for t in picked) < min(admission_key(t) for t in left)
        # Chosen tasks come out in admission order and each once.
        assert [admission_key(t) for t in picked] == sorted(admission_key(t) for t in picked)
        assert len({t.name for t in picked}) == len(picked)
        # The k-th chosen task had queue position k.
        for position, task in enumerate(picked, start=1):
            assert queue_position(task, tasks) == position


def _plain_admit(
    candidates: list[TaskView],
    running_by_type: dict[str, int],
    limits: dict[str, int],
    tier_caps: dict[tuple[str, str], int],
    running_by_tier: dict[tuple[str, str], int],
) -> list[TaskView]:
    """`admit` as first written: every candidate looked at, no early stop."""
    held = dict(running_by_tier)
    free: dict[str, int] = {}
    chosen: list[TaskView] = []
    seen: set[tuple[str, str]] = set()
    for task in sorted(candidates, key=admission_key):
        identity = (task.namespace, task.name)
        if identity in seen or not is_waiting(task) or not is_due(task, T0):
            continue
        seen.add(identity)
        kind = task.task_type.value
        if kind not in free:
            free[kind] = max(0, limits.get(kind, 0) - running_by_type.get(kind, 0))
        share = (kind, task.tier)
        if share in tier_caps and held.get(share, 0) >= tier_caps[share]:
            continue
        if free[kind] > 0:
            free[kind] -= 1
            held[share] = held.get(share, 0) + 1
            chosen.append(task)
    return chosen


_KINDS = ["diagnostic", "ml_training", "ml_prediction"]
_SPECS = {(k, p): view("x", k, priority=p).spec for k in _KINDS for p in (0, 5, 9)}
_pairs = st.tuples(st.sampled_from(_KINDS), st.sampled_from(["", "free", "pro"]))


@st.composite
def _tiered(draw: st.DrawFn) -> list[TaskView]:
    tasks = []
    for i in range(draw(st.integers(min_value=0, max_value=30))):
        kind, tier = draw(_pairs)
        spec = _SPECS[(kind, draw(st.sampled_from([0, 5, 9])))]
        name = f"t-{draw(st.integers(min_value=0, max_value=40))}"
        phase = draw(st.sampled_from([None, None, "Queued", "Running"]))
        created = T0 + timedelta(seconds=i % 4)
        tasks.append(task_view(spec, name=name, created_at=created, tier=tier, phase=phase))
    return tasks


@settings(max_examples=300, deadline=None)
@given(
    tasks=_tiered(),
    limits=st.dictionaries(st.sampled_from(_KINDS), st.integers(min_value=0, max_value=5)),
    running=st.dictionaries(st.sampled_from(_KINDS), st.integers(min_value=0, max_value=6)),
    caps=st.dictionaries(_pairs, st.integers(min_value=0, max_value=3)),
    by_tier=st.dictionaries(_pairs, st.integers(min_value=0, max_value=3)),
)
def test_admit_equals_its_plain_form_and_needs_only_the_open_kinds(
    tasks: list[TaskView],
    limits: dict[str, int],
    running: dict[str, int],
    caps: dict[tuple[str, str], int],
    by_tier: dict[tuple[str, str], int],
) -> None:
    chosen = admit(tasks, running, limits, T0, tier_caps=caps, running_by_tier=by_tier)
    assert chosen == _plain_admit(tasks, running, limits, caps, by_tier)
    # The index hands admit one view per task; of those, the open kinds' decide alone.
    unique = list({(t.namespace, t.name): t for t in tasks}.values())
    chosen = admit(unique, running, limits, T0, tier_caps=caps, running_by_tier=by_tier)
    open_ = open_kinds(limits, running)
    only_open = [t for t in unique if t.task_type.value in open_]
    assert admit(only_open, running, limits, T0, tier_caps=caps, running_by_tier=by_tier) == chosen
