"""HTTP enqueue throughput of one `devskyy-api` (uvicorn) process.

Starts redis-server and the API on free loopback ports; a load generator in
another process (a minimal keep-alive asyncio HTTP/1.1 client, far lighter than
httpx) sends a bounded number of POST /v1/tasks. Goal: >= 1000 tasks/s on 2 cores.
Usage: .venv/bin/python bench/bench_http.py
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.api.live_server import TOKENS, running_api
from tests.support.redis_server import running_redis

from bench_enqueue import redis_benchmark_baseline

REQUESTS = 6000
CONNECTIONS = 32
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


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--load":
        asyncio.run(load(sys.argv[2]))
        return
    with tempfile.TemporaryDirectory() as tmp, running_redis(Path(tmp), appendonly=False) as redis:
        limits = {"rate_limit_per_minute": "100000000", "max_queued_per_user": "100000000"}
        with running_api(redis.url, **limits) as api:
            subprocess.run(
                [sys.executable, __file__, "--load", api.url], check=True, capture_output=True
            )  # warm-up run
            done = subprocess.run(
                [sys.executable, __file__, "--load", api.url],
                check=True,
                capture_output=True,
                text=True,
            )
        result = json.loads(done.stdout)
        rate = result["requests"] / result["seconds"]
        print(
            f"HTTP enqueue: {result['requests']} POST /v1/tasks over {CONNECTIONS} keep-alive "
            f"connections, one uvicorn process (uvloop + httptools)"
        )
        print(f"{'tasks/s':>10}{'goal':>8}{'ratio':>8}  statuses")
        print(f"{rate:>10.0f}{1000:>8}{rate / 1000:>7.2f}x  {result['statuses']}")
        redis_benchmark_baseline(redis.port)


if __name__ == "__main__":
    main()
