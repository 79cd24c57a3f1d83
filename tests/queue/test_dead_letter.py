"""The DLQ reader and the atomic retry."""

from __future__ import annotations

import json

import pytest

from devskyy_operator import keys
from devskyy_operator.deadletter.store import (
    get_dead_letter,
    list_dead_letters,
    retry_dead_letter,
)
from devskyy_operator.redisq import DeadLetterChanged, Redis, TaskNotFound, claim, enqueue, get_task
from devskyy_operator.redisq.task_store import mark_failed
from tests.queue.conftest import diagnostic_spec
from tests.support.lifetimes import DEFAULTS, FINISH

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


async def dead_letter(aredis: Redis, task_id: str, failed_epoch: float, user: str) -> None:
    """What the operator writes on final failure (seed fields + extras)."""
    record = {
        "task_id": task_id,
        "task_data": {"user_id": user, "exit_code": 3},
        "error": "exit code 3",
        "error_type": "RetryableError",
        "failed_at": "2026-01-05T12:00:00Z",
        "worker_host": "node-1",
        "attempts": 2,
        "reason": "BackoffLimitExceeded",
        "exit_code": 3,
        "termination_message": "",
        "task_type": "diagnostic",
        "user_id": user,
    }
    await aredis.set(
        keys.dlq_key(task_id), json.dumps(record), ex=DEFAULTS.dlq_ttl_seconds, nx=True
    )
    await aredis.zadd(keys.DLQ_INDEX, {task_id: failed_epoch})


async def test_list_and_show(aredis: Redis) -> None:
    await dead_letter(aredis, "task-a", 1.0, "alice")
    await dead_letter(aredis, "task-b", 2.0, "bob")
    await dead_letter(aredis, "task-c", 3.0, "alice")
    await aredis.zadd(keys.DLQ_INDEX, {"task-expired": 4.0})  # record gone, index stale
    assert [d.task_id for d in await list_dead_letters(aredis)] == ["task-c", "task-b", "task-a"]
    assert [d.task_id for d in await list_dead_letters(aredis, user_id="alice")] == [
        "task-c",
        "task-a",
    ]
    assert [d.task_id for d in await list_dead_letters(aredis, offset=1, limit=1)] == ["task-b"]
    assert await aredis.zscore(keys.DLQ_INDEX, "task-expired") is None
    letter = await get_dead_letter(aredis, "task-b")
    assert letter is not None
    assert letter.exit_code == 3
    assert letter.reason == "BackoffLimitExceeded"
    assert await get_dead_letter(aredis, "task-zzz") is None


async def test_retry_requeues_under_a_new_id_with_history(aredis: Redis) -> None:
    task_id = (await enqueue(aredis, diagnostic_spec(priority=250, exit_code=3))).task_id
    await claim(aredis, "diagnostic", 1, 30)
    await mark_failed(aredis, task_id, "exit code 3", completed_at="t", **FINISH)
    await dead_letter(aredis, task_id, 1.0, "alice")

    retried = await retry_dead_letter(aredis, task_id)
    assert retried.task_id == f"{task_id}-r1"
    assert await aredis.get(keys.dlq_key(task_id)) is None
    assert await aredis.zscore(keys.DLQ_INDEX, task_id) is None
    record = await get_task(aredis, retried.task_id)
    assert record is not None
    assert record.status == "pending"
    assert record.priority == 250
    assert record.raw["retry_of"] == task_id
    history = json.loads(record.raw["attempt_history"])
    assert history[0]["task_id"] == task_id
    assert history[0]["exit_code"] == 3
    assert await aredis.zrange(keys.queue_key("diagnostic"), 0, -1) == [retried.task_id]

    with pytest.raises(TaskNotFound):
        await retry_dead_letter(aredis, task_id)

    # The retry fails again: the next retry is -r2 and carries both failures.
    await claim(aredis, "diagnostic", 1, 30)
    await mark_failed(aredis, retried.task_id, "again", completed_at="t", **FINISH)
    await dead_letter(aredis, retried.task_id, 2.0, "alice")
    second = await retry_dead_letter(aredis, retried.task_id)
    assert second.task_id == f"{task_id}-r2"
    second_record = await get_task(aredis, second.task_id)
    assert second_record is not None
    assert len(json.loads(second_record.raw["attempt_history"])) == 2


async def test_retry_without_task_hash_uses_type_and_input(aredis: Redis) -> None:
    await dead_letter(aredis, "orphan-task", 1.0, "dave")
    retried = await retry_dead_letter(aredis, "orphan-task")
    record = await get_task(aredis, retried.task_id)
    assert record is not None
    assert record.data == {"user_id": "dave", "exit_code": 3}


async def test_changed_record_is_not_retried(aredis: Redis) -> None:
    from devskyy_operator.redisq import scripts

    await dead_letter(aredis, "task-x", 1.0, "alice")
    outcome = await scripts.RETRY_DEAD_LETTER(
        aredis,
        [keys.dlq_key("task-x"), keys.DLQ_INDEX, keys.task_key("task-x-r1"), "q", "s", "u", "uq"],
        ["task-x", "stale copy", "task-x-r1", 0, 0, "status", "pending"],
    )
    assert outcome[0] == "changed"
    assert await aredis.exists(keys.task_key("task-x-r1")) == 0
    assert DeadLetterChanged.__doc__
