"""A schedule's decisions as a pure function of (spec, now, last run, runs): CronJob's
rules for missed runs, deadlines, the 100-missed warning, concurrency, suspend,
history, and the deterministic run names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from devskyy_operator import keys
from devskyy_operator.controller.schedule_plan import (
    EVENT_ALREADY_ACTIVE,
    EVENT_MISSED,
    EVENT_TOO_MANY_MISSED,
    REASON_SUSPENDED,
    Run,
    build_run,
    plan_schedule,
    prune,
    run_from_body,
    run_name,
    scheduled_time_from_name,
)
from devskyy_operator.crd.schedule import ScheduleSpec, parse_schedule_spec

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

TEMPLATE = {"spec": {"type": "diagnostic", "input": {"user_id": "u1"}}}
CREATED = datetime(2026, 12, 2, 9, 0, 30, tzinfo=UTC)


def spec(**fields: Any) -> ScheduleSpec:
    return parse_schedule_spec({"schedule": "* * * * *", "template": TEMPLATE, **fields})


def t(minute: int, second: int = 0, hour: int = 10) -> datetime:
    return datetime(2026, 12, 2, hour, minute, second, tzinfo=UTC)


def plan(
    s: ScheduleSpec,
    now: datetime,
    last: datetime | None = None,
    runs: tuple[Run, ...] = (),
    created: datetime = CREATED,
) -> Any:
    return plan_schedule(
        "nightly", s, now=now, created_at=created, last_schedule_time=last,
        last_successful_time=None, runs=runs,
    )  # fmt: skip


def active(minute: int) -> Run:
    return Run(run_name("nightly", t(minute)), t(minute), "Running")


def name(minute: int) -> str:
    return run_name("nightly", t(minute))


def done(minute: int, phase: str = "Succeeded") -> Run:
    return Run(run_name("nightly", t(minute)), t(minute), phase, t(minute, 30))


# (case, spec fields, now, last schedule time, runs) -> (start, event reasons)
CASES: list[tuple[str, dict[str, Any], datetime, datetime | None, tuple[Run, ...],
                  datetime | None, tuple[str, ...]]] = [
    ("due now", {}, t(5, 1), t(4), (), t(5), ()),
    ("not yet due", {}, t(4, 59), t(4), (), None, ()),
    ("first run after creation", {}, t(0, 1, hour=9), None, (), None, ()),
    ("first run, a minute on", {}, t(1, 2, hour=9), None, (), t(1, hour=9), ()),
    ("missed several: only the latest starts", {}, t(9, 5), t(4), (), t(9), ()),
    ("inside the deadline", {"startingDeadlineSeconds": 10}, t(5, 9), t(4), (), t(5), ()),
    ("deadline exceeded", {"startingDeadlineSeconds": 10}, t(5, 11), t(4), (), None,
     (EVENT_MISSED,)),
    ("run exists already (restart)", {}, t(5, 1), t(4), (active(5),), None, ()),
    ("already recorded", {}, t(5, 1), t(5), (), None, ()),
    ("Allow overlaps", {"concurrencyPolicy": "Allow"}, t(5, 1), t(4), (active(4),), t(5), ()),
    ("Forbid skips", {"concurrencyPolicy": "Forbid"}, t(5, 1), t(4), (active(4),), None,
     (EVENT_ALREADY_ACTIVE,)),
    ("Forbid starts late once the run ended", {"concurrencyPolicy": "Forbid"}, t(5, 40), t(4),
     (done(4),), t(5), ()),
    ("Forbid late start beyond the deadline",
     {"concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 30}, t(5, 40), t(4),
     (done(4),), None, (EVENT_MISSED,)),
    ("Replace starts", {"concurrencyPolicy": "Replace"}, t(5, 1), t(4), (active(4),), t(5), ()),
    ("suspended", {"suspend": True}, t(5, 1), t(4), (), None, ()),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "now", "last", "runs", "start", "events"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decisions(
    fields: dict[str, Any],
    now: datetime,
    last: datetime | None,
    runs: tuple[Run, ...],
    start: datetime | None,
    events: tuple[str, ...],
) -> None:
    decided = plan(spec(**fields), now, last, runs)
    assert decided.start == start
    assert tuple(e.reason for e in decided.events) == events
    if start is not None:
        assert decided.status.last_schedule_time == start
        assert run_name("nightly", start) in (decided.status.active or [])


def test_replace_deletes_the_active_runs_first() -> None:
    decided = plan(spec(concurrencyPolicy="Replace"), t(5, 1), t(4), (active(3), active(4)))
    assert decided.delete_active == (run_name("nightly", t(3)), run_name("nightly", t(4)))
    assert decided.status.active == [run_name("nightly", t(5))]
    assert decided.status.active_count == 1


def test_a_found_run_catches_the_status_up() -> None:
    """Created, then the operator stopped before writing status: the next one records it."""
    decided = plan(spec(), t(5, 1), t(3), (active(5),))
    assert decided.start is None
    assert decided.status.last_schedule_time == t(5)
    assert decided.status.active == [run_name("nightly", t(5))]


def test_more_than_100_missed_warns_and_starts_the_latest_only() -> None:
    now = t(0, 5, hour=10) + timedelta(days=1)  # 24 h of minutes since the last run
    decided = plan(spec(), now, t(0))
    assert decided.start == now.replace(second=0)
    (warning,) = decided.events
    assert warning.reason == EVENT_TOO_MANY_MISSED
    assert warning.warning
    assert "startingDeadlineSeconds" in warning.message


def test_a_deadline_bounds_the_missed_count() -> None:
    """With a deadline only the times inside it count: no warning after a long outage."""
    now = t(0, 5, hour=10) + timedelta(days=1)
    decided = plan(spec(startingDeadlineSeconds=300), now, t(0))
    assert decided.start == now.replace(second=0)
    assert decided.events == ()


@pytest.mark.parametrize(("missed", "warned"), [(100, False), (101, True)])
def test_the_warning_starts_beyond_100_missed(missed: int, warned: bool) -> None:
    last = t(0, 0, hour=10)
    now = last + timedelta(minutes=missed, seconds=5)
    decided = plan(spec(), now, last)
    assert decided.start == last + timedelta(minutes=missed)
    assert [e.reason for e in decided.events] == ([EVENT_TOO_MANY_MISSED] if warned else [])


def test_wake_at_is_the_next_time_and_next_schedule_time_is_shown() -> None:
    decided = plan(spec(schedule="*/15 * * * *"), t(5, 1), t(0))
    assert decided.wake_at == t(15)
    assert decided.status.next_schedule_time == t(15)
    assert decided.status.patch()["nextScheduleTime"] == "2026-12-02T10:15:00Z"


def test_suspend_clears_the_next_time_but_keeps_pruning() -> None:
    runs = (done(1), done(2), done(3), done(4))
    decided = plan(spec(suspend=True, successfulRunsHistoryLimit=2), t(5, 1), t(4), runs)
    assert decided.wake_at is None
    assert decided.status.reason == REASON_SUSPENDED
    assert decided.status.patch()["nextScheduleTime"] is None  # merge patch: removed
    assert decided.prune == (run_name("nightly", t(1)), run_name("nightly", t(2)))


def test_daylight_saving_time_in_the_schedule_zone() -> None:
    """02:30 Berlin time does not exist on 2026-03-29: a daily 02:30 run is skipped that
    day (robfig/cron, hence CronJob), the next is on the 30th."""
    s = spec(schedule="30 2 * * *", timeZone="Europe/Berlin")
    before = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # 01:00 CET
    last = datetime(2026, 3, 28, 1, 30, tzinfo=UTC)  # the 28th's 02:30 CET
    assert plan(s, before, last).status.next_schedule_time == datetime(
        2026, 3, 30, 0, 30, tzinfo=UTC
    )  # 02:30 CEST
    # Fall back (2026-10-25 03:00 CEST -> 02:00 CET): 02:30 happens twice, two runs.
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert plan(s, first + timedelta(seconds=5), first - timedelta(days=1)).start == first
    assert plan(s, second + timedelta(seconds=5), first).start == second
    assert run_name("x", first) != run_name("x", second)


@pytest.mark.parametrize(
    ("runs", "keep_ok", "keep_failed", "expected"),
    [
        ((done(1), done(2), done(3)), 3, 1, ()),
        ((done(3), done(1), done(2)), 1, 1, (name(1), name(2))),
        ((done(1, "Failed"), done(2, "Failed"), done(3)), 3, 1, (name(1),)),
        ((done(1), active(2)), 0, 0, (name(1),)),  # an active run is never pruned
    ],
)  # fmt: skip
def test_history_limits(
    runs: tuple[Run, ...], keep_ok: int, keep_failed: int, expected: tuple[str, ...]
) -> None:
    assert prune(runs, keep_ok, keep_failed) == expected


def test_run_names_are_cronjobs() -> None:
    moment = datetime(2026, 12, 2, 10, 5, tzinfo=UTC)
    assert run_name("nightly", moment) == f"nightly-{int(moment.timestamp()) // 60}"
    assert scheduled_time_from_name("nightly", run_name("nightly", moment)) == moment
    assert scheduled_time_from_name("nightly", "other-123") is None
    assert scheduled_time_from_name("nightly", "nightly-x") is None


def test_build_run_owns_labels_and_copies_the_template() -> None:
    schedule = {
        "metadata": {"name": "nightly", "namespace": "ns", "uid": "u-1"},
        "spec": {"schedule": "* * * * *", "template": TEMPLATE},
    }
    run = build_run(schedule, t(5))
    assert run["metadata"]["name"] == run_name("nightly", t(5))
    assert run["metadata"]["labels"] == {keys.LABEL_SCHEDULE: "nightly"}
    assert run["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert run["metadata"]["ownerReferences"][0]["kind"] == keys.SCHEDULE_KIND
    assert run["spec"] == TEMPLATE["spec"]
    assert run_from_body("nightly", {**run, "status": {"phase": "Running"}}) == Run(
        run["metadata"]["name"], t(5), "Running", None
    )


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"schedule": "61 * * * *"}, "schedule"),
        ({"timeZone": "Mars/Olympus"}, "timeZone"),
        ({"concurrencyPolicy": "Sometimes"}, "concurrencyPolicy"),
        ({"startingDeadlineSeconds": -1}, "startingDeadlineSeconds"),
        ({"successfulRunsHistoryLimit": 101}, "successfulRunsHistoryLimit"),
        ({"template": {"spec": {"type": "diagnostic", "input": {}}}}, "template.spec"),
        ({"template": {"spec": {"type": "nope", "input": {"user_id": "u1"}}}}, "template.spec"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_specs_name_the_field(fields: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as raised:
        spec(**fields)
    locations = [".".join(str(p) for p in e["loc"]) for e in raised.value.errors()]
    assert any(loc.startswith(where) for loc in locations), locations


def test_the_active_list_is_clipped_and_the_count_is_not() -> None:
    runs = tuple(Run(f"nightly-{i}", t(0) - timedelta(minutes=i), "Running") for i in range(150))
    decided = plan(spec(), t(5, 1), t(4), runs)
    assert decided.status.active_count == 151
    assert len(decided.status.active or []) == 100
