"""HTTP enqueue throughput of one `devskyy-api` (uvicorn) process.

Starts redis-server and the API on free loopback ports; a load generator in
another process (a minimal keep-alive asyncio HTTP/1.1 client, far lighter than
httpx) sends a bounded number of POST /v1/tasks. Goal: >= 1000 tasks/s on 2 cores,
where the load generator and redis-server share those cores with the API.
After a warm-up, RUNS loads run; the median rate is the figure, and the API
process's CPU time per request (from /proc) shows what bounds it.
Usage: .venv/bin/python bench/bench_http.py
"""

from __future__ import annotations

import asyncio
import json
import os
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

from bench_enqueue import redis_benchmark_baseline

REQUESTS = 6000
CONNECTIONS = 32
RUNS = 3
BODY = json.dumps(
    {"type": "diagnostic", "priority": 200, "input": {"user_id": "alice", "sleep_seconds": 1}}
).encode()


def request_bytes(host: str) -> bytes:
    head = (
        f"POST /v1/tasks HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TOKENS['alice']}\r\nContent-Length: {len(BODY)}\r\n\r\n"
    )
    return head.encode() + BODY


async def connection(host: str, port: int, count: int, statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    payload = request_bytes(f"{host}:{port}")
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


async def load(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    statuses: dict[int, int] = {}
    per_connection = REQUESTS // CONNECTIONS
    started = time.perf_counter()
    await asyncio.gather(
        *(connection(host, int(port), per_connection, statuses) for _ in range(CONNECTIONS))
    )
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {"requests": per_connection * CONNECTIONS, "seconds": elapsed, "statuses": statuses}
        )
    )


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(url: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--load", url], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--load":
        asyncio.run(load(sys.argv[2]))
        return
    with tempfile.TemporaryDirectory() as tmp, running_redis(Path(tmp), appendonly=False) as redis:
        limits = {"rate_limit_per_minute": "100000000", "max_queued_per_user": "100000000"}
        rates: list[float] = []
        cpu_per_request: list[float] = []
        statuses: dict[str, int] = {}
        with running_api(redis.url, **limits) as api:
            run_load(api.url)  # warm-up
            for _ in range(RUNS):
                cpu_before = cpu_seconds(api.process.pid)
                result = run_load(api.url)
                cpu = cpu_seconds(api.process.pid) - cpu_before
                rates.append(result["requests"] / result["seconds"])
                cpu_per_request.append(cpu / result["requests"] * 1e6)
                for status, count in result["statuses"].items():
                    statuses[status] = statuses.get(status, 0) + count
        rate = statistics.median(rates)
        print(
            f"HTTP enqueue: {RUNS} x {REQUESTS // CONNECTIONS * CONNECTIONS} POST /v1/tasks over "
            f"{CONNECTIONS} keep-alive connections, one uvicorn process (uvloop + httptools)"
        )
        print(f"runs (tasks/s): {', '.join(f'{r:.0f}' for r in rates)}")
        print(f"{'median/s':>10}{'goal':>8}{'ratio':>8}{'API CPU/req':>14}  statuses")
        print(
            f"{rate:>10.0f}{1000:>8}{rate / 1000:>7.2f}x"
            f"{statistics.median(cpu_per_request):>11.0f} µs  {statuses}"
        )
        redis_benchmark_baseline(redis.port)


if __name__ == "__main__":
    main()
