"""The history path end to end: scripts append transitions to the stream, the
writer puts them in PostgreSQL, each exactly once, with the task's facts."""

from __future__ import annotations

import pytest

from devskyy_operator import keys
from devskyy_operator.deadletter.store import retry_dead_letter
from devskyy_operator.redisq import Redis, task_store
from tests.history.conftest import kinds_by_task, rows, running_writer
from tests.history.lifecycle import LIFETIMES, cancelled, fail_after_retry, queued, spec, succeed
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_every_transition_arrives_once_with_its_facts(
    aredis: Redis, redis_url: str, database_url: str
) -> None:
    ok = await queued(aredis, "alice")
    await succeed(aredis, ok)
    bad = await queued(aredis, "bob")
    await fail_after_retry(aredis, bad, "bob")
    retried = (await retry_dead_letter(aredis, bad)).task_id
    dropped = await queued(aredis, "alice")
    await cancelled(aredis, dropped)
    assert await task_store.ensure_record(
        aredis, "from-kubectl", spec("carol"), created_at="2026-01-05T11:00:00.000000Z"
    )
    expected = {
        ok: ["queued", "admitted", "running", "succeeded"],
        bad: ["queued", "admitted", "running", "attempt_failed", "running", "dead_lettered",
              "failed", "retried"],
        retried: ["queued"],
        dropped: ["queued", "cancelled"],
        "from-kubectl": ["queued"],
    }  # fmt: skip
    async with running_writer(redis_url, database_url):

        async def arrived() -> bool:
            return await kinds_by_task(database_url) == expected

        await eventually(arrived, timeout=20, what="all transitions in PostgreSQL")
        await eventually(lambda: _stream_empty(aredis), timeout=10, what="written entries trimmed")
    tasks = {r["task_id"]: r for r in await rows(database_url, "SELECT * FROM tasks")}
    assert tasks[ok]["status"] == "completed"
    assert tasks[ok]["result"]["status"] == "success"
    assert tasks[ok]["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}
    assert tasks[ok]["run_seconds"] == pytest.approx(9.5)
    assert tasks[ok]["worker_host"] == "node-a"
    assert tasks[ok]["user_id"] == "alice"
    assert tasks[ok]["task_type"] == "diagnostic"
    assert tasks[ok]["input"] == {"user_id": "alice"}
    assert tasks[bad]["status"] == "failed"
    assert tasks[bad]["attempts"] == 2
    assert (tasks[bad]["error"], tasks[bad]["error_type"]) == ("upstream 503", "ProviderError")
    assert (tasks[bad]["reason"], tasks[bad]["exit_code"]) == ("BackoffLimitExceeded", 75)
    assert tasks[bad]["retried_as"] == retried
    assert tasks[bad]["dead_lettered_at"] is not None
    assert tasks[retried]["retry_of"] == bad
    assert tasks[retried]["status"] == "pending"
    assert tasks[dropped]["status"] == "failed"
    assert tasks[dropped]["cancelled"] is True
    assert tasks["from-kubectl"]["source"] == "kubectl"
    (attempt,) = await rows(
        database_url, "SELECT * FROM task_events WHERE task_id = %s AND kind = %s",
        bad, "attempt_failed",
    )  # fmt: skip
    assert (attempt["error"], attempt["exit_code"]) == ("connection reset", 75)
    assert attempt["detail"]["attempt"] == 1


async def test_replayed_writes_record_nothing_new(aredis: Redis) -> None:
    """The scripts are the idempotency gate: repeating a transition appends nothing."""
    task_id = await queued(aredis)
    await succeed(aredis, task_id)
    length = await aredis.xlen(keys.HISTORY_STREAM)
    await task_store.mark_admitted(aredis, task_id, "2026-01-05T12:00:00Z", {})
    await task_store.mark_processing(aredis, task_id, "2026-01-05T12:00:00Z", "node-a", 1)
    await task_store.mark_completed(aredis, task_id, "{}", "2026-01-05T12:00:09Z", **LIFETIMES)
    assert await aredis.xlen(keys.HISTORY_STREAM) == length == 4


async def test_no_stream_no_history(redis_url: str) -> None:
    """Without a history writer (no stream) the scripts append nothing."""
    from devskyy_operator.redisq import connect
    from devskyy_operator.redisq.scripts import disconnect

    client = connect(redis_url)
    try:
        await succeed(client, await queued(client))
        assert await client.exists(keys.HISTORY_STREAM) == 0
    finally:
        await disconnect(client)


async def _stream_empty(redis: Redis) -> bool:
    return int(await redis.xlen(keys.HISTORY_STREAM)) == 0


async def test_a_batch_records_one_queued_per_task(
    aredis: Redis, redis_url: str, database_url: str
) -> None:
    """POST /v1/tasks/batch's script (all or none) appends each created task."""
    from devskyy_operator.redisq.batch import BatchEntry, enqueue_batch

    done = await enqueue_batch(aredis, [BatchEntry(spec("alice")) for _ in range(3)])
    async with running_writer(redis_url, database_url):

        async def arrived() -> dict[str, list[str]] | None:
            found = await kinds_by_task(database_url)
            return found if len(found) == 3 else None

        found = await eventually(arrived, timeout=20, what="the batch's tasks")
    assert found == {item.task_id: ["queued"] for item in done}


async def test_attempts_seen_only_afterwards_still_read_running_then_failed(
    aredis: Redis, redis_url: str, database_url: str
) -> None:
    """The first look at a task already on its third attempt: each earlier attempt
    gets its running and attempt_failed, in order, then the current one runs."""
    task_id = await queued(aredis)
    await task_store.mark_processing(
        aredis, task_id, "2026-01-05T12:00:00Z", "node-a", 3, failed_attempts=2
    )
    async with running_writer(redis_url, database_url):

        async def arrived() -> list[str] | None:
            found = (await kinds_by_task(database_url)).get(task_id, [])
            return found if len(found) == 6 else None

        kinds = await eventually(arrived, timeout=20, what="the attempts")
    assert kinds == [
        "queued", "running", "attempt_failed", "running", "attempt_failed", "running",
    ]  # fmt: skip
    attempts = await rows(
        database_url,
        "SELECT kind, detail->>'attempt' AS attempt FROM task_events WHERE task_id = %s"
        " AND kind <> 'queued' ORDER BY stream_ms, stream_seq",
        task_id,
    )
    assert [r["attempt"] for r in attempts] == ["1", "1", "2", "2", "3"]
