"""The status model: the CRD's status schema comes from it, and it is how status is written."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from devskyy_operator.crd import definition
from devskyy_operator.crd.conditions import PHASES, set_condition
from devskyy_operator.crd.schema import model_schema
from devskyy_operator.crd.status import MAX_MESSAGE_CHARS, Condition, TaskStatus, clip
from tests.unit.factories import T0

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


def test_the_patch_holds_what_was_set_and_null_for_what_to_remove() -> None:
    status = TaskStatus(phase="Running", attempts=2, started_at=T0, worker_host=None)
    assert status.patch() == {
        "phase": "Running",
        "attempts": 2,
        "startedAt": "2026-01-05T12:00:00Z",
        "workerHost": None,  # a merge patch removes it
    }


def test_updated_validates_and_keeps_what_was_set() -> None:
    conditions = set_condition(
        None, type="Running", status="True", reason="Running", message="attempt 1",
        now=T0, observed_generation=3,
    )  # fmt: skip
    status = TaskStatus(phase="Running").updated(conditions=conditions, observed_generation=3)
    assert isinstance(status.conditions, list)
    assert isinstance(status.conditions[0], Condition)
    assert status.patch() == {
        "phase": "Running",
        "observedGeneration": 3,
        "conditions": conditions,  # round-trips to exactly what set_condition built
    }


def test_messages_are_clipped_in_one_place() -> None:
    long = "x" * (MAX_MESSAGE_CHARS + 500)
    status = TaskStatus(message=long)
    assert status.message == "x" * MAX_MESSAGE_CHARS
    condition = Condition(type="Failed", status="True", reason="R", message=long,
                          lastTransitionTime=T0)  # fmt: skip
    assert len(condition.message) == MAX_MESSAGE_CHARS
    assert clip(None) == ""
    assert clip("abc", 2) == "ab"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"queuePosition": 3}, "queuePosition"),  # nothing writes it any more
        ({"phase": "Cancelled"}, "phase"),  # a cancelled task is deleted, it has no phase
        ({"started_at": datetime(2026, 1, 5, 12)}, "started_at"),  # naive time
        ({"reason": "R" * 129}, "reason"),
    ],
)
def test_what_the_model_refuses(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TaskStatus.model_validate(fields)
    assert problem in str(caught.value)


def test_unchanged_in_compares_the_written_form() -> None:
    status = TaskStatus(phase="Running", started_at=T0, worker_host=None)
    assert status.unchanged_in({"phase": "Running", "startedAt": "2026-01-05T12:00:00Z"})
    assert not status.unchanged_in({"phase": "Running", "startedAt": "2026-01-05T12:00:01Z"})
    assert not status.unchanged_in({"phase": "Running", "startedAt": "2026-01-05T12:00:00Z",
                                    "workerHost": "node-a"})  # fmt: skip


def test_the_crd_status_schema_is_generated_from_the_model() -> None:
    schema = definition.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    status = schema["properties"]["status"]
    assert status == model_schema(TaskStatus)
    fields = status["properties"]
    assert set(fields) == {field.alias for field in TaskStatus.model_fields.values()}
    for unwritten in ("queuePosition", "resultRef"):
        assert unwritten not in fields
    assert fields["notBefore"] == {
        "type": "string", "format": "date-time",
        "description": "The task is held until then (marketing schedule_at).",
    }  # fmt: skip
    assert fields["phase"]["enum"] == list(PHASES) == ["Queued", "Running", "Succeeded", "Failed"]
    assert fields["attempts"]["format"] == "int64"
    assert fields["conditions"]["maxItems"] == 16
    condition = fields["conditions"]["items"]
    assert condition["required"] == ["type", "status", "reason", "message", "lastTransitionTime"]
    assert condition["properties"]["observedGeneration"]["minimum"] == 0
