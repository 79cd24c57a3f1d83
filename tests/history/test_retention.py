"""Retention: tasks unchanged for history_retention_days go with their events, in
bounded batches; tasks with a recent transition stay whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from devskyy_operator.history.events import parse_entry
from devskyy_operator.history.retention import purge_once
from devskyy_operator.history.store import write_events
from devskyy_operator.metrics import HISTORY_DELETED
from devskyy_operator.settings import Settings
from tests.history.conftest import rows

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _events(task_id: str, last_change: datetime, seq: int) -> list[object]:
    def at(moment: datetime) -> str:
        return moment.isoformat().replace("+00:00", "Z")

    base = {"task_id": task_id, "task_type": "diagnostic", "user_id": "alice"}
    queued = last_change - timedelta(days=1)
    ms = int(last_change.timestamp() * 1000)
    return [
        parse_entry(f"{ms - 1000}-{seq}", {**base, "kind": "queued", "at": at(queued)}),
        parse_entry(f"{ms}-{seq}", {**base, "kind": "succeeded", "at": at(last_change)}),
    ]


async def test_old_tasks_go_in_batches_recent_ones_stay(database_url: str) -> None:
    events = []
    for i in range(5):
        events += _events(f"old-{i}", NOW - timedelta(days=40 + i), i)
    events += _events("recent", NOW - timedelta(days=2), 9)
    # queued long ago, but changed recently: stays, with its old event
    events += _events("long-running", NOW - timedelta(days=1), 8)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        assert await write_events(conn, events) == len(events)  # type: ignore[arg-type]
    before = HISTORY_DELETED._value.get()
    settings = Settings(history_retention_days=30, history_retention_batch=2)
    assert await purge_once(database_url, settings, now=NOW) == 5
    assert HISTORY_DELETED._value.get() - before == 5
    left = {r["task_id"] for r in await rows(database_url, "SELECT task_id FROM tasks")}
    assert left == {"recent", "long-running"}
    kept = await rows(database_url, "SELECT task_id FROM task_events ORDER BY task_id")
    assert [r["task_id"] for r in kept] == ["long-running", "long-running", "recent", "recent"]
    assert await purge_once(database_url, Settings(history_retention_days=0), now=NOW) == 0
