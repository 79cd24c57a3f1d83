"""claim() vs three plain Lua claim loops, call for call, on queues of equal depth.

- claim(): lease, per-user index, and per id what the bridge needs to create the
  resource (spec, user, enqueue time), in one atomic script;
- plain (the goal's baseline): ZRANGE, then per id ZREM + ZADD-to-leases + HGET
  of the spec: the straightforward Lua claim that leaves a bridge able to create
  the resource (it still lacks the user and the enqueue time claim() returns);
- ids only: the same without the spec, the least work a claim can do; a bridge
  cannot create anything from it, so it is a floor, not a peer;
- then read: the ids-only claim followed by one pipelined HMGET per id for the
  fields a bridge needs (the two-step way to get what claim() returns);
- claim(region): claim() of a region's bridge, from that region's own queue
  (README "Multi-region"): the same script on other keys, so the same rate.

Each side drains its own queue (one task type each, same depth, same records).
The sides take turns call by call, in a new random order each turn, and each call
is timed on its own, so a slow moment of the shared machine (or a garbage
collection another side's garbage triggers) hits every side alike; rates are
tasks / summed call time, medians over ROUNDS. Starts its own redis-server;
prints a table.
Usage: .venv/bin/python bench/bench_claim.py
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.redis_server import running_redis

from bench_enqueue import redis_benchmark_baseline
from devskyy_agents.models import parse_spec
from devskyy_operator import keys
from devskyy_operator.redisq import Redis, claim, connect
from devskyy_operator.redisq.scripts import LuaScript, disconnect

TASKS = 20000
ROUNDS = 5
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
-- The state N enqueue() calls leave behind (the fields claim and the plain
-- loops read), written server-side so that refilling costs little.
-- KEYS: queue, user-queued set. ARGV: n, spec, task prefix, id prefix.
for i = 1, tonumber(ARGV[1]) do
  local id = ARGV[4] .. i
  redis.call('HSET', ARGV[3] .. id, 'queue_score', tostring(i), 'task_type', 'diagnostic',
    'status', 'pending', 'data', '{}', 'spec', ARGV[2], 'priority', '100',
    'user_id', 'bench-user', 'created_at', '2026-01-05T12:00:00.000000Z', 'started_at', '',
    'completed_at', '', 'worker_host', '', 'attempts', '0', 'source', 'api')
  redis.call('ZADD', KEYS[1], i, id)
  redis.call('SADD', KEYS[2], id)
end
return 1
""",
)

Step = Callable[[Redis, str, int], Awaitable[int]]


REGION = "eu-west"


async def fill(client: Redis, task_type: str, tasks: int, region: str | None = None) -> None:
    """`tasks` pending records of the same shape in the queue of `task_type`."""
    await BULK_FILL(
        client,
        [keys.queue_key(task_type, region), keys.user_queued_key("bench-user")],
        [
            tasks,
            SPEC.model_dump_json(by_alias=True),
            keys.TASK_PREFIX,
            f"task-{task_type.replace('_', '-')}-",
        ],
    )


async def step_library(client: Redis, task_type: str, batch: int) -> int:
    return len(await claim(client, task_type, batch, LEASE))


async def step_region(client: Redis, task_type: str, batch: int) -> int:
    return len(await claim(client, task_type, batch, LEASE, region=REGION))


async def step_plain(client: Redis, task_type: str, batch: int) -> int:
    ids = await PLAIN_CLAIM(
        client, [keys.queue_key(task_type), keys.leases_key(task_type)], [batch, LEASE]
    )
    return len(ids)


async def step_plain_with_spec(client: Redis, task_type: str, batch: int) -> int:
    flat = await PLAIN_CLAIM_WITH_SPEC(
        client,
        [keys.queue_key(task_type), keys.leases_key(task_type)],
        [batch, LEASE, keys.TASK_PREFIX],
    )
    return len(flat) // 2


async def step_plain_then_read(client: Redis, task_type: str, batch: int) -> int:
    ids = await PLAIN_CLAIM(
        client, [keys.queue_key(task_type), keys.leases_key(task_type)], [batch, LEASE]
    )
    if not ids:
        return 0
    async with client.pipeline(transaction=False) as pipe:
        for task_id in ids:
            pipe.hmget(keys.task_key(task_id), "status", "spec", "user_id", "created_at")
        records = await pipe.execute()
    return sum(1 for record in records if record[0] == "pending")


# name -> (the task type whose queue that side drains, one claim call)
SIDES: dict[str, tuple[str, Step]] = {
    "claim()": ("diagnostic", step_library),
    "plain": ("ml_prediction", step_plain_with_spec),
    "ids only": ("ml_training", step_plain),
    "then read": ("generate_3d", step_plain_then_read),
    "claim(region)": ("fashn_tryon", step_region),
}


async def interleaved_rates(client: Redis, batch: int) -> dict[str, float]:
    """Fill every side's queue, then drain them all, one timed call per side in turn."""
    tasks = min(TASKS, 2500 * batch)
    await client.flushall()
    for task_type, step in SIDES.values():
        await fill(client, task_type, tasks, REGION if step is step_region else None)
    spent = dict.fromkeys(SIDES, 0.0)
    taken = dict.fromkeys(SIDES, 0)
    active = list(SIDES)
    turns = random.Random(batch)  # a fresh order each turn: no side always follows another
    while active:
        for name in turns.sample(active, len(active)):
            task_type, step = SIDES[name]
            started = time.perf_counter()
            got = await step(client, task_type, batch)
            spent[name] += time.perf_counter() - started
            taken[name] += got
            if got == 0:
                active.remove(name)
    assert all(count == tasks for count in taken.values()), taken
    return {name: taken[name] / spent[name] for name in SIDES}


async def run(url: str) -> None:
    client = connect(url)
    try:
        print("tasks claimed per second (median of rounds); ratio = claim() / that loop")
        header = f"{'batch':<7}{'claim()':>9}"
        for name in list(SIDES)[1:]:
            header += f"{name:>{max(11, len(name) + 2)}}{'ratio':>7}"
        print(header)
        for batch in (1, 10, 50):
            rounds = [await interleaved_rates(client, batch) for _ in range(ROUNDS)]
            rate = {name: statistics.median(r[name] for r in rounds) for name in SIDES}
            row = f"{batch:<7}{rate['claim()']:>9.0f}"
            for name in list(SIDES)[1:]:
                width = max(11, len(name) + 2)
                row += f"{rate[name]:>{width}.0f}{rate['claim()'] / rate[name]:>6.2f}x"
            print(row)
    finally:
        await disconnect(client)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, running_redis(Path(tmp), appendonly=False) as server:
        print(
            f"claim benchmark: min({TASKS}, 2500 x batch) queued tasks per side and round,"
            f" redis on :{server.port}"
        )
        asyncio.run(run(server.url))
        redis_benchmark_baseline(server.port)


if __name__ == "__main__":
    main()
