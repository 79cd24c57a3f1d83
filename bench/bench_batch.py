"""Batch enqueue over HTTP: POST /v1/tasks:batch against single POST /v1/tasks.

Starts redis-server and one `devskyy-api` process on free loopback ports; a load
generator in another process (the keep-alive HTTP/1.1 client of bench_http) sends
TASKS tasks either as TASKS single requests or as TASKS / BATCH batches, over
CONNECTIONS connections. Sides alternate over ROUNDS rounds (the machine is
shared) and the median tasks/s of each are compared; the API's CPU time per
task (from /proc) shows where the gain comes from.
Usage: .venv/bin/python bench/bench_batch.py
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.api.live_server import TOKENS, running_api
from tests.support.redis_server import running_redis

from bench_http import cpu_seconds

TASKS = 6000
BATCH = 100
CONNECTIONS = 8
ROUNDS = 3
SPEC = {"type": "diagnostic", "priority": 200, "input": {"user_id": "alice", "sleep_seconds": 1}}


def request_bytes(host: str, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TOKENS['alice']}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def connection(
    host: str, port: int, payload: bytes, count: int, statuses: dict[int, int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for _ in range(count):
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            statuses[status] = statuses.get(status, 0) + 1
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
    finally:
        writer.close()


async def load(url: str, side: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    if side == "batch":
        path, per_request = "/v1/tasks:batch", BATCH
        body = json.dumps({"tasks": [{"spec": SPEC}] * BATCH}).encode()
    else:
        path, per_request, body = "/v1/tasks", 1, json.dumps(SPEC).encode()
    payload = request_bytes(f"{host}:{port}", path, body)
    requests = TASKS // per_request // CONNECTIONS
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    await asyncio.gather(
        *(connection(host, int(port), payload, requests, statuses) for _ in range(CONNECTIONS))
    )
    elapsed = time.perf_counter() - started
    tasks = requests * CONNECTIONS * per_request
    print(json.dumps({"tasks": tasks, "seconds": elapsed, "statuses": statuses}))


def run_load(url: str, side: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--load", url, side], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--load":
        asyncio.run(load(sys.argv[2], sys.argv[3]))
        return
    limits = {
        "rate_limit_per_minute": "100000000",
        "max_queued_per_user": "100000000",
        "max_batch_tasks": str(BATCH),
    }
    rates: dict[str, list[float]] = {"single": [], "batch": []}
    cpu: dict[str, list[float]] = {"single": [], "batch": []}
    statuses: dict[str, dict[str, int]] = {"single": {}, "batch": {}}
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_redis(Path(tmp), appendonly=False) as redis,
        running_api(redis.url, **limits) as api,
    ):
        run_load(api.url, "single")  # warm-up
        run_load(api.url, "batch")
        for _ in range(ROUNDS):
            for side in ("single", "batch"):
                before = cpu_seconds(api.process.pid)
                result = run_load(api.url, side)
                used = cpu_seconds(api.process.pid) - before
                rates[side].append(result["tasks"] / result["seconds"])
                cpu[side].append(used / result["tasks"] * 1e6)
                for status, count in result["statuses"].items():
                    statuses[side][status] = statuses[side].get(status, 0) + count
    print(
        f"HTTP enqueue, {ROUNDS} rounds x {TASKS} tasks over {CONNECTIONS} keep-alive connections,"
        f" one uvicorn process: single POST /v1/tasks vs POST /v1/tasks:batch of {BATCH}"
    )
    print(f"{'side':>8}{'median tasks/s':>16}{'API CPU/task':>14}  runs; statuses")
    for side in ("single", "batch"):
        print(
            f"{side:>8}{statistics.median(rates[side]):>16.0f}"
            f"{statistics.median(cpu[side]):>11.0f} µs  "
            f"{', '.join(f'{r:.0f}' for r in rates[side])}; {statuses[side]}"
        )
    ratio = statistics.median(rates["batch"]) / statistics.median(rates["single"])
    print(f"batch / single: {ratio:.2f}x")


if __name__ == "__main__":
    main()
