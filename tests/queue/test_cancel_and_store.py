"""Cancel, the operator's task-hash writer and the queue statistics."""

from __future__ import annotations

import json

import pytest

from devskyy_operator import keys
from devskyy_operator.redisq import (
    Redis,
    TaskFinished,
    TaskNotFound,
    cancel,
    claim,
    enqueue,
    get_task,
    list_user_tasks,
    queue_position,
    queue_sizes,
)
from devskyy_operator.redisq.task_store import (
    WriteOutcome,
    ensure_record,
    mark_completed,
    mark_failed,
    mark_processing,
)
from tests.queue.conftest import diagnostic_spec
from tests.support.lifetimes import FINISH, RECORD_TTL, WINDOW

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


async def test_cancel_queued_task_finishes_it(aredis: Redis) -> None:
    task_id = (await enqueue(aredis, diagnostic_spec())).task_id
    assert await cancel(aredis, task_id, **RECORD_TTL) == "cancelled"
    record = await get_task(aredis, task_id)
    assert record is not None
    assert record.status == "failed"
    assert record.cancelled
    assert record.error == "cancelled by user"
    assert record.completed_at.endswith("Z")
    assert await aredis.zcard(keys.queue_key("diagnostic")) == 0
    assert not await aredis.sismember(keys.user_queued_key("alice"), task_id)
    with pytest.raises(TaskFinished):
        await cancel(aredis, task_id, **RECORD_TTL)
    with pytest.raises(TaskNotFound):
        await cancel(aredis, "task-nope", **RECORD_TTL)


async def test_cancel_running_task_records_a_request(aredis: Redis) -> None:
    task_id = (await enqueue(aredis, diagnostic_spec())).task_id
    await claim(aredis, "diagnostic", 1, 30)
    assert await mark_processing(aredis, task_id, "2026-01-05T12:00:00Z", "node-1", 1) == "ok"
    assert await cancel(aredis, task_id, **RECORD_TTL) == "requested"
    assert await aredis.sismember(keys.CANCEL_REQUESTS, task_id)
    assert await aredis.hget(keys.task_key(task_id), "status") == "processing"
    outcome = await mark_failed(
        aredis, task_id, "", completed_at="2026-01-05T12:01:00Z", cancelled=True, **FINISH
    )
    assert outcome == WriteOutcome.OK
    assert not await aredis.sismember(keys.CANCEL_REQUESTS, task_id)
    assert (await get_task(aredis, task_id)).error == "cancelled by user"  # type: ignore[union-attr]


async def test_status_never_moves_backwards(aredis: Redis) -> None:
    task_id = (await enqueue(aredis, diagnostic_spec())).task_id
    assert await mark_processing(aredis, task_id, "t1", "node-1", 1) == "ok"
    assert await mark_processing(aredis, task_id, "t1", "node-1", 2) == "ok"
    result = json.dumps({"status": "success"})
    assert await mark_completed(aredis, task_id, result, "t2", now=5000.0, **FINISH) == "ok"
    assert await mark_completed(aredis, task_id, result, "t3", **FINISH) == "terminal"
    assert await mark_failed(aredis, task_id, "boom", completed_at="t4", **FINISH) == "terminal"
    assert await mark_processing(aredis, task_id, "t5", "node-2", 3) == "terminal"
    record = await get_task(aredis, task_id)
    assert record is not None
    assert (record.status, record.attempts, record.completed_at) == ("completed", 2, "t2")
    assert record.result == {"status": "success"}
    assert 0 < await aredis.ttl(keys.task_key(task_id)) <= 30 * 24 * 3600
    assert await aredis.zscore(keys.completions_key("diagnostic"), task_id) == 5000.0
    assert await mark_processing(aredis, "task-unknown", "t", "n", 1) == "missing"


async def test_ensure_record_for_kubectl_tasks(aredis: Redis) -> None:
    spec = diagnostic_spec(user="carol")
    assert await ensure_record(aredis, "kubectl-task-1", spec, created_at="2026-01-05T12:00:00Z")
    assert not await ensure_record(aredis, "kubectl-task-1", spec, created_at="later")
    record = await get_task(aredis, "kubectl-task-1")
    assert record is not None
    assert record.status == "pending"
    assert record.created_at == "2026-01-05T12:00:00Z"
    assert record.raw["source"] == "kubectl"
    assert await aredis.zcard(keys.queue_key("diagnostic")) == 0  # never queued
    assert [r.task_id for r in await list_user_tasks(aredis, "carol")] == ["kubectl-task-1"]
    assert record.tier == ""  # no devskyy.io/tier label: untiered
    labelled = diagnostic_spec(user="carol", priority=650)
    assert await ensure_record(
        aredis, "kubectl-task-2", labelled, created_at="t", tier="enterprise"
    )
    second = await get_task(aredis, "kubectl-task-2")
    assert second is not None
    assert (second.tier, second.priority, second.requested_priority) == ("enterprise", 650, None)


async def test_position_and_estimated_wait(aredis: Redis) -> None:
    ids = [(await enqueue(aredis, diagnostic_spec())).task_id for _ in range(4)]
    assert (await queue_sizes(aredis))["diagnostic"] == 4
    position = await queue_position(aredis, "diagnostic", ids[2], now=1000.0, **WINDOW)
    assert position is not None
    assert position.position == 2
    assert position.queued == 4
    assert position.estimated_wait_seconds is None  # no throughput yet
    done = (await claim(aredis, "diagnostic", 1, 30))[0].task_id
    await mark_completed(
        aredis, done, "{}", "t", now=990.0, record_ttl_seconds=60, throughput_window_seconds=600
    )
    position = await queue_position(aredis, "diagnostic", ids[2], now=1000.0, window_seconds=600)
    assert position is not None
    assert position.position == 1
    assert position.estimated_wait_seconds == pytest.approx(2 / (1 / 600))
    assert await queue_position(aredis, "diagnostic", done, **WINDOW) is None


async def test_a_finish_prunes_completions_at_the_window_it_is_given(aredis: Redis) -> None:
    """Older completions stay for as long as the configured window counts them."""
    done_key = keys.completions_key("diagnostic")
    await aredis.zadd(done_key, {"gone": 10_000.0 - 1900, "kept": 10_000.0 - 1700})
    await enqueue(aredis, diagnostic_spec())
    task_id = (await claim(aredis, "diagnostic", 1, 30))[0].task_id
    await mark_completed(
        aredis, task_id, "{}", "t", now=10_000.0, record_ttl_seconds=60,
        throughput_window_seconds=1800,
    )  # fmt: skip
    assert await aredis.zrange(done_key, 0, -1) == ["kept", task_id]
    waiting = (await enqueue(aredis, diagnostic_spec())).task_id
    position = await queue_position(
        aredis, "diagnostic", waiting, now=10_000.0, window_seconds=1800
    )
    assert position is not None
    assert position.position == 0
    assert position.estimated_wait_seconds == pytest.approx(1800 / 2)
    assert 0 < await aredis.ttl(keys.task_key(task_id)) <= 60


async def test_list_user_tasks_filters_and_prunes(aredis: Redis) -> None:
    ids = [(await enqueue(aredis, diagnostic_spec())).task_id for _ in range(5)]
    await cancel(aredis, ids[1], **RECORD_TTL)
    await aredis.delete(keys.task_key(ids[0]))  # expired hash
    listed = await list_user_tasks(aredis, "alice", limit=10)
    assert [r.task_id for r in listed] == ids[:0:-1]
    assert [r.task_id for r in await list_user_tasks(aredis, "alice", status="failed")] == [ids[1]]
    assert await aredis.zcard(keys.user_tasks_key("alice")) == 4
