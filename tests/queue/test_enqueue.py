"""Enqueue against a real Redis: one atomic write, idempotency, limits, order."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from devskyy_agents.clock import epoch_iso
from devskyy_agents.models import TASK_ID_RE
from devskyy_operator import keys
from devskyy_operator.redisq import (
    IdempotencyConflict,
    QueueFull,
    RateLimited,
    Redis,
    TaskExists,
    claim,
    enqueue,
    lua,
    scripts,
)
from devskyy_operator.redisq.enqueue import NO_LIMITS
from tests.queue.conftest import diagnostic_spec

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


async def test_enqueue_writes_hash_queue_and_indexes(aredis: Redis) -> None:
    spec = diagnostic_spec(priority=7, sleep_seconds=1.5)
    done = await enqueue(aredis, spec)
    assert done.created
    assert TASK_ID_RE.match(done.task_id)
    record = await aredis.hgetall(keys.task_key(done.task_id))
    assert record["task_type"] == "diagnostic"
    assert record["status"] == "pending"
    assert json.loads(record["data"]) == {"user_id": "alice", "sleep_seconds": 1.5}
    assert json.loads(record["spec"])["type"] == "diagnostic"
    assert record["priority"] == "7"
    assert record["user_id"] == "alice"
    assert record["started_at"] == record["completed_at"] == record["worker_host"] == ""
    assert record["attempts"] == "0"
    assert datetime.fromisoformat(record["created_at"]).tzinfo == UTC
    sequence = int(await aredis.get(keys.SEQUENCE_KEY) or 0)
    score = await aredis.zscore(keys.queue_key("diagnostic"), done.task_id)
    assert score == keys.queue_score(7, sequence) == float(record["queue_score"])
    assert await aredis.zscore(keys.user_tasks_key("alice"), done.task_id) is not None
    assert await aredis.sismember(keys.user_queued_key("alice"), done.task_id)


async def test_priority_first_then_fifo(aredis: Redis) -> None:
    low = [await enqueue(aredis, diagnostic_spec(priority=1)) for _ in range(3)]
    high = [await enqueue(aredis, diagnostic_spec(priority=900)) for _ in range(3)]
    mid = await enqueue(aredis, diagnostic_spec(priority=100))
    claimed = await claim(aredis, "diagnostic", 10, 30)
    expected = [e.task_id for e in high] + [mid.task_id] + [e.task_id for e in low]
    assert [c.task_id for c in claimed] == expected


async def test_idempotency_key_returns_the_same_task(aredis: Redis) -> None:
    spec = diagnostic_spec()
    first = await enqueue(aredis, spec, idempotency_key="req-1")
    again = await enqueue(aredis, spec, idempotency_key="req-1")
    assert again.task_id == first.task_id
    assert not again.created
    assert await aredis.zcard(keys.queue_key("diagnostic")) == 1
    ttl = await aredis.ttl(keys.idempotency_key("alice", "req-1"))
    assert 86_000 < ttl <= 86_400
    with pytest.raises(IdempotencyConflict) as caught:
        await enqueue(aredis, diagnostic_spec(priority=5), idempotency_key="req-1")
    assert caught.value.task_id == first.task_id
    other_user = await enqueue(aredis, diagnostic_spec(user="bob"), idempotency_key="req-1")
    assert other_user.created
    assert other_user.task_id != first.task_id


async def test_caller_id_conflict_writes_nothing(aredis: Redis) -> None:
    await enqueue(aredis, diagnostic_spec(), task_id="my-task-1")
    before = sorted(await aredis.keys("*"))
    snapshot = await aredis.hgetall(keys.task_key("my-task-1"))
    with pytest.raises(TaskExists):
        await enqueue(aredis, diagnostic_spec(user="bob"), task_id="my-task-1")
    assert await aredis.hgetall(keys.task_key("my-task-1")) == snapshot
    assert sorted(await aredis.keys("*")) == before
    assert await aredis.zcard(keys.queue_key("diagnostic")) == 1


async def test_queued_cap_and_rate_limit(aredis: Redis) -> None:
    capped = replace(NO_LIMITS, max_queued_per_user=2)
    await enqueue(aredis, diagnostic_spec(), limits=capped)
    await enqueue(aredis, diagnostic_spec(), limits=capped)
    with pytest.raises(QueueFull):
        await enqueue(aredis, diagnostic_spec(), limits=capped)
    await claim(aredis, "diagnostic", 1, 30)  # leaves the queue -> room again
    await enqueue(aredis, diagnostic_spec(), limits=capped)

    limited = replace(NO_LIMITS, rate_limit=3, rate_window_seconds=60)
    for _ in range(3):
        await enqueue(aredis, diagnostic_spec(user="bob"), limits=limited)
    with pytest.raises(RateLimited) as caught:
        await enqueue(aredis, diagnostic_spec(user="bob"), limits=limited)
    assert 0 < caught.value.retry_after <= 60
    assert await aredis.zcard(keys.user_tasks_key("bob")) == 3


async def test_lua_timestamps_match_python_format(aredis: Redis) -> None:
    probe = scripts.LuaScript("probe", "return iso_utc(tonumber(ARGV[1]))")
    for epoch in (0.0, 951_782_400.5, 1_767_614_400.123456, 4_102_444_799.999999):
        assert await probe(aredis, [], [f"{epoch:.6f}"]) == epoch_iso(epoch)
    assert "iso_utc" in lua.COMMON
