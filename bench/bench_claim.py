"""claim() vs two plain Lua claim loops, all draining the same freshly filled queue.

- claim(): lease, per-user index, and per id what the bridge needs to create the
  resource (spec, user, enqueue time), in one atomic script;
- plain, ids only: ZRANGE, then ZREM + ZADD-to-leases per id (the minimal claim,
  which leaves a bridge without the specs it must create resources from);
- plain + spec: the same script also returning each id's spec (HGET): the
  plain claim a bridge could work with;
- plain then read: the ids-only claim followed by one pipelined HMGET per id
  for the fields a bridge needs.

Starts its own redis-server; prints a table and both ratios.
Usage: .venv/bin/python bench/bench_claim.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.redis_server import running_redis

from bench_enqueue import redis_benchmark_baseline
from devskyy_agents.models import parse_spec
from devskyy_operator import keys
from devskyy_operator.queue import Redis, claim, connect, enqueue
from devskyy_operator.queue.scripts import LuaScript, disconnect

TASKS = 20000
ROUNDS = 5  # medians over alternating runs
LEASE = 60.0
SPEC = parse_spec({"type": "diagnostic", "input": {"user_id": "bench-user", "sleep_seconds": 1}})

PLAIN_CLAIM = LuaScript(
    "plain_claim",
    """
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local t = redis.call('TIME')
local expiry = tonumber(t[1]) + tonumber(ARGV[2])
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], expiry, id)
end
return ids
""",
)


PLAIN_CLAIM_WITH_SPEC = LuaScript(
    "plain_claim_with_spec",
    """
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local t = redis.call('TIME')
local expiry = tonumber(t[1]) + tonumber(ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], expiry, id)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', ARGV[3] .. id, 'spec')
end
return out
""",
)


BULK_FILL = LuaScript(
    "bulk_fill",
    """
-- The state N enqueue() calls leave behind, written server-side so that
-- refilling between runs costs little. ARGV: n, spec, task prefix.
for i = 1, tonumber(ARGV[1]) do
  local id = 'task-bench' .. i
  redis.call('HSET', ARGV[3] .. id, 'task_type', 'diagnostic', 'status', 'pending',
    'spec', ARGV[2], 'user_id', 'bench-user', 'created_at', '2026-01-05T12:00:00Z',
    'priority', '100', 'queue_score', tostring(i))
  redis.call('ZADD', KEYS[1], i, id)
  redis.call('SADD', KEYS[2], id)
end
return 1
""",
)


async def fill(client: Redis, tasks: int) -> None:
    await client.flushall()
    await enqueue(client, SPEC)  # one real enqueue, so the record format is current
    await BULK_FILL(
        client,
        [keys.queue_key("diagnostic"), keys.user_queued_key("bench-user")],
        [tasks - 1, SPEC.model_dump_json(by_alias=True), keys.TASK_PREFIX],
    )


async def drain_library(client: Redis, batch: int) -> int:
    taken = 0
    while claimed := await claim(client, "diagnostic", batch, LEASE):
        taken += len(claimed)
    return taken


async def drain_plain(client: Redis, batch: int) -> int:
    queue, leases = keys.queue_key("diagnostic"), keys.leases_key("diagnostic")
    taken = 0
    while ids := await PLAIN_CLAIM(client, [queue, leases], [batch, LEASE]):
        taken += len(ids)
    return taken


async def drain_plain_with_spec(client: Redis, batch: int) -> int:
    queue, leases = keys.queue_key("diagnostic"), keys.leases_key("diagnostic")
    taken = 0
    while flat := await PLAIN_CLAIM_WITH_SPEC(
        client, [queue, leases], [batch, LEASE, keys.TASK_PREFIX]
    ):
        taken += len(flat) // 2
    return taken


async def drain_plain_then_read(client: Redis, batch: int) -> int:
    queue, leases = keys.queue_key("diagnostic"), keys.leases_key("diagnostic")
    taken = 0
    while ids := await PLAIN_CLAIM(client, [queue, leases], [batch, LEASE]):
        async with client.pipeline(transaction=False) as pipe:
            for task_id in ids:
                pipe.hmget(keys.task_key(task_id), "status", "spec", "user_id", "created_at")
            records = await pipe.execute()
        taken += sum(1 for record in records if record[0] == "pending")
    return taken


async def timed(client: Redis, drain: object, batch: int) -> float:
    tasks = min(TASKS, 2500 * batch)
    await fill(client, tasks)
    started = time.perf_counter()
    taken = await drain(client, batch)  # type: ignore[operator]
    elapsed = time.perf_counter() - started
    assert taken == tasks, taken
    return taken / elapsed


async def run(url: str) -> None:
    client = connect(url)
    try:
        baselines = (drain_plain, drain_plain_with_spec, drain_plain_then_read)
        print("tasks claimed per second (median of alternating runs); ratio = claim() / plain")
        print(
            f"{'batch':<7}{'claim()':>9}{'ids only':>10}{'ratio':>7}{'+spec':>9}{'ratio':>7}"
            f"{'then read':>11}{'ratio':>7}"
        )
        for batch in (1, 10, 50):
            runs: dict[object, list[float]] = {}
            for _ in range(ROUNDS):  # alternate sides: the machine is shared and noisy
                for drain in (drain_library, *baselines):
                    runs.setdefault(drain, []).append(await timed(client, drain, batch))
            lib = statistics.median(runs[drain_library])
            row = f"{batch:<7}{lib:>9.0f}"
            for drain, width in zip(baselines, (10, 9, 11), strict=True):
                plain = statistics.median(runs[drain])
                row += f"{plain:>{width}.0f}{lib / plain:>6.2f}x"
            print(row)
    finally:
        await disconnect(client)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, running_redis(Path(tmp), appendonly=False) as server:
        print(
            f"claim benchmark: drain min({TASKS}, 2500 x batch) queued tasks per run,"
            f" redis on :{server.port}"
        )
        asyncio.run(run(server.url))
        redis_benchmark_baseline(server.port)


if __name__ == "__main__":
    main()
