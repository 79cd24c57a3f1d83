"""set_condition / get_condition and TaskView parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from devskyy_operator.crd.conditions import (
    STATUS_FALSE,
    STATUS_TRUE,
    TYPE_ADMITTED,
    TYPE_RUNNING,
    get_condition,
    set_condition,
)
from devskyy_operator.crd.task_view import parse_time, task_view_from_body
from tests.unit.factories import T0, body

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


def _set(conditions: list[dict[str, object]], status: str, now: datetime, reason: str = "R"):  # type: ignore[no-untyped-def]
    return set_condition(
        conditions,
        type=TYPE_RUNNING,
        status=status,
        reason=reason,
        message="m",
        now=now,
        observed_generation=2,
    )


def test_transition_time_moves_only_on_status_change() -> None:
    first = _set([], STATUS_TRUE, T0)
    assert first == [
        {
            "type": "Running",
            "status": "True",
            "reason": "R",
            "message": "m",
            "lastTransitionTime": "2026-01-05T12:00:00Z",
            "observedGeneration": 2,
        }
    ]
    later = T0 + timedelta(minutes=5)
    same = _set(first, STATUS_TRUE, later, reason="Other")
    assert same[0]["lastTransitionTime"] == "2026-01-05T12:00:00Z"
    assert same[0]["reason"] == "Other"
    flipped = _set(same, STATUS_FALSE, later)
    assert flipped[0]["lastTransitionTime"] == "2026-01-05T12:05:00Z"
    assert first[0]["reason"] == "R"  # inputs are never mutated


def test_order_is_kept_and_new_types_append() -> None:
    admitted = set_condition(
        [],
        type=TYPE_ADMITTED,
        status=STATUS_TRUE,
        reason="Admitted",
        message="",
        now=T0,
        observed_generation=1,
    )
    both = _set(admitted, STATUS_TRUE, T0)
    assert [c["type"] for c in both] == ["Admitted", "Running"]
    again = set_condition(
        both,
        type=TYPE_ADMITTED,
        status=STATUS_TRUE,
        reason="Admitted",
        message="",
        now=T0 + timedelta(hours=1),
        observed_generation=1,
    )
    assert again == both
    assert get_condition(both, "Running") == both[1]
    assert get_condition(both, "Failed") is None
    assert get_condition(None, "Failed") is None


def test_times_are_utc_and_aware() -> None:
    east = datetime(2026, 1, 5, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert _set([], STATUS_TRUE, east)[0]["lastTransitionTime"] == "2026-01-05T12:00:00Z"
    with pytest.raises(ValueError, match="aware"):
        _set([], STATUS_TRUE, datetime(2026, 1, 5))
    with pytest.raises(ValueError, match="True, False or Unknown"):
        _set([], "yes", T0)


def test_task_view_from_body() -> None:
    view = task_view_from_body(
        body(
            "t-9",
            "ml_training",
            phase="Queued",
            priority=3,
            annotations={"devskyy.io/enqueued-at": "1767614400.5"},
        )
    )
    assert (view.name, view.namespace, view.uid, view.generation) == ("t-9", "tasks", "uid-t-9", 1)
    assert view.created_at == T0
    assert view.phase == "Queued"
    assert view.spec.priority == 3
    assert view.user_id == "alice"
    assert view.task_type.value == "ml_training"
    assert view.queued_at == datetime.fromtimestamp(1767614400.5, UTC)
    assert task_view_from_body(body("t-8")).queued_at == T0


def test_bad_spec_raises_validation_error() -> None:
    with pytest.raises(ValidationError):
        task_view_from_body(body("t-1", "ml_training", input={"user_id": "alice"}))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-05T12:00:00Z", T0),
        ("2026-01-05T13:00:00+01:00", T0),
        ("2026-01-05T12:00:00", T0),
        (T0.timestamp(), T0),
        (str(T0.timestamp()), T0),
        ("", None),
        (None, None),
        ("yesterday", None),
        (True, None),
    ],
)
def test_parse_time(value: object, expected: datetime | None) -> None:
    assert parse_time(value) == expected
