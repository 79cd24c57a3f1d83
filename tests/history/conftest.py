"""History tests: the session's Redis and PostgreSQL, a writer in this process or
as the real `devskyy-history` process, and helpers that read the store."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from devskyy_operator.history.writer import HistoryWriter, ensure_group
from devskyy_operator.redisq import Redis, connect
from devskyy_operator.redisq.scripts import disconnect
from devskyy_operator.settings import Settings
from tests.support.ports import free_port


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[Redis]:
    client = connect(redis_url)
    await ensure_group(client)  # the stream exists: the scripts record transitions
    yield client
    await disconnect(client)


def writer_settings(redis_url: str, database_url: str, **extra: Any) -> Settings:
    return Settings(
        redis_url=redis_url, database_url=database_url, history_retry_max_seconds=0.5, **extra
    )


@contextlib.asynccontextmanager
async def running_writer(
    redis_url: str, database_url: str, consumer: str = "writer-1", **extra: Any
) -> AsyncIterator[HistoryWriter]:
    """The writer's loop in this process, stopped (and awaited) on exit."""
    settings = writer_settings(redis_url, database_url, **extra)
    redis = connect(redis_url)
    writer = HistoryWriter(redis, database_url, settings, consumer)
    stop = asyncio.Event()
    task = asyncio.ensure_future(writer.run(stop))
    try:
        yield writer
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await disconnect(redis)


@dataclass
class WriterProcess:
    process: subprocess.Popen[bytes]
    metrics_port: int

    def metric(self, name: str) -> float:
        """A sample of the writer's /metrics (0 when absent)."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@contextlib.contextmanager
def writer_process(
    redis_url: str, database_url: str, logs: Path, consumer: str = "writer-1", **env: str
) -> Iterator[WriterProcess]:
    """`devskyy-history run` as its own process (what the chart's Deployment runs)."""
    metrics_port = free_port()
    environment = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "DEVSKYY_HISTORY_CONSUMER": consumer,
        "DEVSKYY_HISTORY_RETRY_MAX_SECONDS": "0.5",
        "DEVSKYY_METRICS_PORT": str(metrics_port),
        "DEVSKYY_HEALTH_PORT": str(free_port()),
        **env,
    }
    logs.parent.mkdir(parents=True, exist_ok=True)
    with logs.open("ab") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "devskyy-history"), "run"],
            env=environment, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield WriterProcess(process, metrics_port)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def rows(database_url: str, query: str, *params: Any) -> list[dict[str, Any]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(query, params)
        return await cur.fetchall()


async def kinds_by_task(database_url: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for row in await rows(
        database_url,
        "SELECT task_id, kind FROM task_events ORDER BY task_id, stream_ms, stream_seq",
    ):
        found.setdefault(row["task_id"], []).append(row["kind"])
    return found


async def event_count(database_url: str) -> int:
    (row,) = await rows(database_url, "SELECT count(*) AS n FROM task_events")
    return int(row["n"])
