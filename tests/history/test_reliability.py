"""The history is never on a task's critical path, and its rows are exactly once.

PostgreSQL stopped mid-run: tasks keep moving at full speed (the scripts only
append to the Redis stream), the writer retries, and once PostgreSQL is back every
transition arrives exactly once. The writer killed between its insert and its
acknowledgement: the entries are redelivered (to the same consumer, or taken over
by another) and add no row."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from devskyy_devcluster.postgres import PostgresServer
from devskyy_operator import keys
from devskyy_operator.history.writer import ensure_group
from devskyy_operator.redisq import Redis, connect
from devskyy_operator.redisq.scripts import disconnect
from tests.history.conftest import WriterProcess, event_count, kinds_by_task, writer_process
from tests.history.lifecycle import cancelled, fail_after_retry, queued, succeed
from tests.support.postgres_server import fresh_database
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SUCCEEDED = ["queued", "admitted", "running", "succeeded"]
FAILED = ["queued", "admitted", "running", "attempt_failed", "running", "dead_lettered", "failed"]
CANCELLED = ["queued", "cancelled"]


async def run_tasks(redis: Redis, rounds: int) -> tuple[dict[str, list[str]], float]:
    """`rounds` x (one success, one failure, one cancellation); the slowest call's seconds."""
    expected: dict[str, list[str]] = {}
    slowest = 0.0
    for _ in range(rounds):
        for user, drive, kinds in (("alice", succeed, SUCCEEDED), ("bob", None, FAILED)):
            started = time.monotonic()
            task_id = await queued(redis, user)
            if drive is not None:
                await drive(redis, task_id)
            else:
                await fail_after_retry(redis, task_id, user)
            slowest = max(slowest, time.monotonic() - started)
            expected[task_id] = kinds
        dropped = await queued(redis, "carol")
        await cancelled(redis, dropped)
        expected[dropped] = CANCELLED
    return expected, slowest


async def _all_written(database_url: str, expected: dict[str, list[str]]) -> None:
    async def arrived() -> dict[str, list[str]] | None:
        found = await kinds_by_task(database_url)
        return found if found == expected else None

    await eventually(arrived, timeout=90, interval=0.25, what="every transition in PostgreSQL")


async def _pending(redis: Redis) -> int:
    summary = await redis.xpending(keys.HISTORY_STREAM, keys.HISTORY_GROUP)  # type: ignore[no-untyped-call]
    return int(summary["pending"])


async def test_postgres_outage_loses_nothing_and_slows_nothing(
    aredis: Redis, redis_url: str, own_postgres: PostgresServer, tmp_path: Path
) -> None:
    database_url = fresh_database(own_postgres)
    with writer_process(redis_url, database_url, tmp_path / "writer.log") as writer:
        before, slowest_up = await run_tasks(aredis, 3)
        await _all_written(database_url, before)
        own_postgres.stop()
        during, slowest_down = await run_tasks(aredis, 10)
        # Tasks moved on at the same speed; the writer noticed and kept everything.
        assert slowest_down < max(0.5, 5 * slowest_up), (slowest_up, slowest_down)
        await eventually(
            lambda: _metric_above(writer, "devskyy_history_write_errors_total", 0),
            timeout=30, what="the writer failing to write",
        )  # fmt: skip
        assert writer.process.poll() is None
        assert await aredis.xlen(keys.HISTORY_STREAM) >= sum(map(len, during.values()))
        assert writer.metric("devskyy_history_lag_seconds") > 0
        own_postgres.start()
        await _all_written(database_url, before | during)
        assert await event_count(database_url) == sum(map(len, (before | during).values()))
        await eventually(lambda: _drained(aredis), timeout=30, what="stream acked and trimmed")
        await eventually(
            lambda: _metric_at_most(writer, "devskyy_history_lag_seconds", 5.0),
            timeout=30, what="lag back to ~0",
        )  # fmt: skip


@pytest.mark.parametrize("restarted_as", ["writer-1", "writer-2"])
async def test_writer_killed_between_insert_and_ack_adds_no_row(
    redis_url: str, database_url: str, tmp_path: Path, restarted_as: str
) -> None:
    """The writer's Redis user may not XACK: it inserts, then fails to acknowledge,
    and is killed there. Restarted (same consumer: its own pending entries; a new
    one: XAUTOCLAIM after the idle time), it rewrites and acks with no new row."""
    admin = connect(redis_url)
    await ensure_group(admin)
    await admin.execute_command(
        "ACL", "SETUSER", "writer", "on", ">writer-pw", "~*", "&*", "+@all", "-xack"
    )
    writer_url = redis_url.replace("redis://", "redis://writer:writer-pw@")
    try:
        expected, _ = await run_tasks(admin, 4)
        total = sum(map(len, expected.values()))
        with writer_process(writer_url, database_url, tmp_path / "writer-1.log") as first:
            await _all_written(database_url, expected)
            await eventually(lambda: _pending_is(admin, total), timeout=30, what="all pending")
            first.process.kill()
            first.process.wait(timeout=10)
        assert await _pending(admin) == total  # every entry written, none acknowledged
        await admin.execute_command("ACL", "SETUSER", "writer", "+xack")
        with writer_process(
            writer_url, database_url, tmp_path / "writer-2.log", consumer=restarted_as,
            DEVSKYY_HISTORY_CLAIM_IDLE_SECONDS="1",
        ):  # fmt: skip
            await eventually(lambda: _drained(admin), timeout=60, what="redelivered and acked")
        assert await kinds_by_task(database_url) == expected
        assert await event_count(database_url) == total
    finally:
        await admin.execute_command("ACL", "DELUSER", "writer")
        await disconnect(admin)


async def _pending_is(redis: Redis, count: int) -> bool:
    return await _pending(redis) == count


async def _drained(redis: Redis) -> bool:
    return await _pending(redis) == 0 and int(await redis.xlen(keys.HISTORY_STREAM)) == 0


async def _metric_above(writer: WriterProcess, name: str, floor: float) -> bool:
    return writer.metric(name) > floor


async def _metric_at_most(writer: WriterProcess, name: str, ceiling: float) -> bool:
    return writer.metric(name) <= ceiling
