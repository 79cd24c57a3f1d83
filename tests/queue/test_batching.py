"""ScriptBatcher against a real Redis: calls of one loop turn share a connection and a
round trip, yet each caller gets its own reply, its own error, and the same result
as an unbatched call."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from devskyy_operator import keys
from devskyy_operator.redisq import Redis, TaskExists, connect, enqueue, get_task
from devskyy_operator.redisq.batching import ScriptBatcher
from devskyy_operator.redisq.scripts import LuaScript, disconnect
from tests.queue.conftest import diagnostic_spec
from tests.support.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

FAILS_FOR_BAD = LuaScript(
    "fails_for_bad",
    "if ARGV[1] == 'bad' then return redis.error_reply('bad argument') end return ARGV[1]",
)


async def connections_received(client: Redis) -> int:
    return int((await client.info("stats"))["total_connections_received"])


async def test_concurrent_enqueues_share_one_connection_and_all_land(
    aredis: Redis, redis_url: str
) -> None:
    client = connect(redis_url)  # a fresh pool: every connection it opens is counted
    batcher = ScriptBatcher(client)
    before = await connections_received(aredis)
    done = await asyncio.gather(*(enqueue(batcher, diagnostic_spec()) for _ in range(50)))
    after = await connections_received(aredis)
    await batcher.aclose()
    await disconnect(client)

    assert after - before == 1  # unbatched, 50 calls in flight open up to 50 connections
    ids = [d.task_id for d in done]
    assert len(set(ids)) == 50
    assert all(d.created for d in done)
    queued = await aredis.zrange(keys.queue_key("diagnostic"), 0, -1)
    assert queued == ids  # same priority: FIFO in the order the calls were made
    record = await get_task(aredis, ids[0])
    assert record is not None
    assert record.status == "pending"


async def test_each_caller_gets_its_own_reply_or_error(aredis: Redis) -> None:
    batcher = ScriptBatcher(aredis)
    results = await asyncio.gather(
        FAILS_FOR_BAD(batcher, [], ["one"]),
        FAILS_FOR_BAD(batcher, [], ["bad"]),
        FAILS_FOR_BAD(batcher, [], ["three"]),
        return_exceptions=True,
    )
    assert results[0] == "one"
    assert results[2] == "three"
    assert isinstance(results[1], ResponseError)
    assert "bad argument" in str(results[1])


async def test_queue_outcomes_come_through_the_batcher(aredis: Redis) -> None:
    batcher = ScriptBatcher(aredis)
    first, second = await asyncio.gather(
        enqueue(batcher, diagnostic_spec(), task_id="task-fixed-1"),
        enqueue(batcher, diagnostic_spec(), task_id="task-fixed-1"),
        return_exceptions=True,
    )
    outcomes = sorted([type(first).__name__, type(second).__name__])
    assert outcomes == ["Enqueued", "TaskExists"]
    assert isinstance(first, TaskExists) or isinstance(second, TaskExists)


async def test_lost_script_cache_falls_back_to_eval(aredis: Redis) -> None:
    batcher = ScriptBatcher(aredis)
    await enqueue(batcher, diagnostic_spec())
    await aredis.script_flush()  # type: ignore[no-untyped-call]
    done = await asyncio.gather(*(enqueue(batcher, diagnostic_spec()) for _ in range(3)))
    assert all(d.created for d in done)
    assert await aredis.zcard(keys.queue_key("diagnostic")) == 4


async def test_a_dead_server_fails_every_caller_of_the_batch() -> None:
    client = connect(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    batcher = ScriptBatcher(client)
    results = await asyncio.gather(
        *(enqueue(batcher, diagnostic_spec()) for _ in range(3)), return_exceptions=True
    )
    await batcher.aclose()
    await disconnect(client)
    assert all(isinstance(r, RedisConnectionError) for r in results), results


async def test_large_bursts_are_split_and_aclose_waits_for_them(aredis: Redis) -> None:
    batcher = ScriptBatcher(aredis, max_batch=8)
    calls = [asyncio.ensure_future(FAILS_FOR_BAD(batcher, [], [str(i)])) for i in range(20)]
    await asyncio.sleep(0)  # every call has joined a batch; two full ones have left
    await batcher.aclose()  # sends the rest at once and waits for all of them
    assert not batcher._pending
    assert not batcher._sending
    assert await asyncio.gather(*calls) == [str(i) for i in range(20)]
