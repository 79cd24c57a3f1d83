"""One dead-letter record type, written from the facts and read back the same."""

from __future__ import annotations

import json

import pytest

from devskyy_operator.bridge.lost import LOST_ERROR, lost_task
from devskyy_operator.deadletter.record import (
    HISTORY_FIELDS,
    MAX_TERMINATION_CHARS,
    DeadLetter,
    FinalFailure,
)
from tests.unit.factories import T0

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

SEED_FIELDS = ("task_id", "task_data", "error", "error_type", "failed_at", "worker_host")

FAILURE = FinalFailure(
    task_id="task-1", task_type="generate_3d", user_id="alice", namespace="tasks",
    task_data={"user_id": "alice", "prompt": "a hoodie"}, reason="PermanentFailure",
    error="TRIPO_API_KEY is not configured", error_type="MissingCredentials", failed_at=T0,
    attempts=1, exit_code=42, termination_message='{"error": "..."}', worker_host="node-a",
)  # fmt: skip


def test_the_record_has_the_seeds_fields_and_reads_back_equal() -> None:
    letter = FAILURE.dead_letter()
    stored = json.loads(letter.to_json())
    for name in SEED_FIELDS:
        assert name in stored
    assert stored["failed_at"] == "2026-01-05T12:00:00.000000Z"
    assert (stored["attempts"], stored["exit_code"], stored["reason"]) == (
        1,
        42,
        "PermanentFailure",
    )
    assert DeadLetter.from_json("task-1", letter.to_json()) == letter


def test_long_texts_are_cut_to_what_is_kept() -> None:
    failure = FinalFailure(
        task_id="t", task_type="diagnostic", user_id="u", namespace="n", task_data={},
        reason="BackoffLimitExceeded", error="e" * 5000, error_type="E", failed_at=T0,
        termination_message="m" * 9000,
    )  # fmt: skip
    letter = failure.dead_letter()
    assert len(letter.error) == 1024
    assert len(letter.termination_message) == MAX_TERMINATION_CHARS


def test_reading_an_older_record_is_lenient() -> None:
    old = {"task_data": {"user_id": "bob"}, "error": "boom", "attempts": "3", "exit_code": True}
    letter = DeadLetter.from_json("task-9", json.dumps(old))
    assert (letter.task_id, letter.user_id, letter.error) == ("task-9", "bob", "boom")
    assert (letter.attempts, letter.exit_code, letter.termination_message) == (None, None, "")
    with pytest.raises(ValueError, match="task-9"):
        DeadLetter.from_json("task-9", "[1, 2]")


def test_a_retry_keeps_the_failure_in_its_history() -> None:
    entry = FAILURE.dead_letter().history_entry()
    assert tuple(entry) == HISTORY_FIELDS
    assert (entry["task_id"], entry["exit_code"], entry["attempts"]) == ("task-1", 42, 1)


def test_a_lost_task_keeps_what_its_hash_knew() -> None:
    record = {"data": '{"user_id": "alice", "sleep_seconds": 1}', "user_id": "alice",
              "attempts": "2", "worker_host": "node-b", "cancel_requested": None}  # fmt: skip
    failure = lost_task("task-3", "diagnostic", record, "tasks", T0)
    assert (failure.reason, failure.error_type, failure.error) == ("Lost", "Lost", LOST_ERROR)
    assert (failure.attempts, failure.worker_host) == (2, "node-b")
    assert failure.task_data == {"user_id": "alice", "sleep_seconds": 1}
    broken = lost_task("task-4", "diagnostic", {"data": "{", "attempts": "x"}, "tasks", T0)
    assert (broken.task_data, broken.attempts, broken.user_id) == ({}, 0, "")


def test_the_log_tail_and_its_pod_are_kept_and_read_back() -> None:
    from dataclasses import replace

    failure = replace(FAILURE, log_pod="task-1-abcde", log_tail="line 1\nBearer ***")
    letter = failure.dead_letter()
    stored = json.loads(letter.to_json())
    assert (stored["log_pod"], stored["log_tail"]) == ("task-1-abcde", "line 1\nBearer ***")
    assert DeadLetter.from_json("task-1", letter.to_json()) == letter
    older = {k: v for k, v in stored.items() if k not in ("log_pod", "log_tail")}
    assert DeadLetter.from_json("task-1", json.dumps(older)).log_tail == ""
