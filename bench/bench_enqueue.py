"""Library enqueue (one Lua script) vs a plain redis-py MULTI{HSET, ZADD} loop.

Both sides get the same pre-validated TaskSpec and serialise it per task. The
library runs on its own client (`queue.connect`: hiredis command packing); the
plain loop on a stock redis-py asyncio client, as a user would write it. Both
run once sequentially (one round trip per task) and once with 64 tasks in
flight. With tasks in flight the library also runs through its `ScriptBatcher`
(what the API uses): calls of one event-loop turn share a round trip. Sides
alternate over several rounds and the medians are compared, because the machine
is shared. Starts its own redis-server on a free port; prints a table and
ratios, then a redis-benchmark baseline. Usage: .venv/bin/python bench/bench_enqueue.py
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio
from tests.support.redis_server import running_redis

from devskyy_agents.clock import utc_iso
from devskyy_agents.models import TaskSpec, parse_spec
from devskyy_operator import keys
from devskyy_operator.redisq import Redis, connect, enqueue
from devskyy_operator.redisq.batching import ScriptBatcher
from devskyy_operator.redisq.ids import new_task_id
from devskyy_operator.redisq.scripts import disconnect

TASKS = 2500
IN_FLIGHT = 64
ROUNDS = 5
Side = Callable[["Redis", TaskSpec], Awaitable[None]]
SPEC = parse_spec(
    {
        "type": "ml_training",
        "priority": 200,
        "input": {
            "user_id": "bench-user",
            "model_id": "trend_predictor",
            "training_data_path": "sales/2025.csv",
            "hyperparameters": {"n_estimators": 200, "max_depth": 8},
            "epochs": 3,
        },
    }
)


async def library(client: Redis, spec: TaskSpec) -> None:
    await enqueue(client, spec)


def batched(batcher: ScriptBatcher) -> Side:
    async def library_batched(_client: Redis, spec: TaskSpec) -> None:
        await enqueue(batcher, spec)

    return library_batched


async def plain_multi(client: Redis, spec: TaskSpec) -> None:
    task_id = new_task_id()
    fields = {
        "task_type": spec.type.value,
        "status": "pending",
        "data": json.dumps(spec.input, separators=(",", ":")),
        "spec": spec.model_dump_json(by_alias=True),
        "priority": spec.priority,
        "user_id": spec.user_id,
        "created_at": utc_iso(),
        "started_at": "",
        "completed_at": "",
        "worker_host": "",
        "attempts": 0,
    }
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(keys.task_key(task_id), mapping=fields)  # type: ignore[arg-type]
        pipe.zadd(keys.queue_key(spec.type), {task_id: keys.queue_score(spec.priority, 0)})
        await pipe.execute()


async def measure(client: Redis, side: Side, in_flight: int) -> float:
    await client.flushall()
    remaining = TASKS

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await side(client, SPEC)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return TASKS / (time.perf_counter() - started)


async def run(url: str) -> None:
    client = connect(url, max_connections=IN_FLIGHT + 4)
    stock: Redis = redis.asyncio.Redis.from_url(
        url, decode_responses=True, max_connections=IN_FLIGHT + 4
    )
    batcher = ScriptBatcher(client)
    try:
        await measure(client, library, 8)  # warm up: script cache, connections
        print(f"{'mode':<32}{'library/s':>12}{'MULTI/s':>12}{'ratio':>8}")
        modes: list[tuple[str, Side, int, Redis]] = [
            ("sequential", library, 1, stock),
            (f"{IN_FLIGHT} in flight", library, IN_FLIGHT, stock),
            (f"{IN_FLIGHT} in flight, ScriptBatcher", batched(batcher), IN_FLIGHT, stock),
            # For scale: MULTI on the library's own client (hiredis packing too).
            ("sequential, MULTI on ours", library, 1, client),
        ]
        for label, side, in_flight, plain_client in modes:
            lib_runs: list[float] = []
            plain_runs: list[float] = []
            for _ in range(ROUNDS):
                lib_runs.append(await measure(client, side, in_flight))
                plain_runs.append(await measure(plain_client, plain_multi, in_flight))
            lib, plain = statistics.median(lib_runs), statistics.median(plain_runs)
            print(f"{label:<32}{lib:>12.0f}{plain:>12.0f}{lib / plain:>7.2f}x")
    finally:
        await batcher.aclose()
        await disconnect(client)
        await disconnect(stock)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, running_redis(Path(tmp), appendonly=False) as server:
        print(f"enqueue benchmark: {TASKS} tasks per run, redis-server on :{server.port}")
        asyncio.run(run(server.url))
        redis_benchmark_baseline(server.port)


def redis_benchmark_baseline(port: int) -> None:
    """The server's raw speed on this machine now, for scale."""
    done = subprocess.run(
        ["redis-benchmark", "-q", "-t", "set,zadd", "-n", "20000", "-p", str(port)],
        check=True,
        capture_output=True,
        text=True,
    )
    print("\nredis-benchmark baseline (-t set,zadd -n 20000):")
    for line in done.stdout.replace("\r", "\n").splitlines():
        if "requests per second" in line:
            print("  " + line.strip())


if __name__ == "__main__":
    main()
