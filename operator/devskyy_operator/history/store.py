"""The history store in PostgreSQL (psycopg 3): write events, query tasks, retention.

Writes are idempotent: an event row is keyed by its stream entry id (ON CONFLICT
DO NOTHING), and the task row's upsert only moves forward (status by rank,
attempts by maximum, known values kept when an event does not carry them), so
writing a batch twice, or two batches out of order, gives the same rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from devskyy_operator.history.cursor import Cursor
from devskyy_operator.history.events import ENDINGS, EventKind, TaskEvent

Row = dict[str, Any]

TASK_COLUMNS = (
    "task_id", "user_id", "task_type", "priority", "status", "status_rank", "cancelled",
    "source", "input", "created_at", "admitted_at", "started_at", "completed_at", "attempts",
    "reason", "error", "error_type", "exit_code", "result", "resources", "run_seconds",
    "worker_host", "retry_of", "retried_as", "dead_lettered_at", "updated_at", "cost",
    "cost_micros",
)  # fmt: skip

_UPSERT_TASK = f"""
INSERT INTO tasks AS t ({", ".join(TASK_COLUMNS)})
VALUES ({", ".join(f"%({c})s" for c in TASK_COLUMNS)})
ON CONFLICT (task_id) DO UPDATE SET
  user_id = COALESCE(NULLIF(EXCLUDED.user_id, ''), t.user_id),
  task_type = COALESCE(NULLIF(EXCLUDED.task_type, ''), t.task_type),
  priority = COALESCE(EXCLUDED.priority, t.priority),
  status = CASE WHEN EXCLUDED.status_rank > t.status_rank THEN EXCLUDED.status ELSE t.status END,
  status_rank = GREATEST(EXCLUDED.status_rank, t.status_rank),
  cancelled = t.cancelled OR EXCLUDED.cancelled,
  source = COALESCE(t.source, EXCLUDED.source),
  input = COALESCE(t.input, EXCLUDED.input),
  created_at = LEAST(t.created_at, EXCLUDED.created_at),
  admitted_at = COALESCE(t.admitted_at, EXCLUDED.admitted_at),
  started_at = COALESCE(EXCLUDED.started_at, t.started_at),
  completed_at = COALESCE(t.completed_at, EXCLUDED.completed_at),
  attempts = GREATEST(EXCLUDED.attempts, t.attempts),
  reason = COALESCE(t.reason, EXCLUDED.reason),
  error = COALESCE(t.error, EXCLUDED.error),
  error_type = COALESCE(t.error_type, EXCLUDED.error_type),
  exit_code = COALESCE(t.exit_code, EXCLUDED.exit_code),
  result = COALESCE(t.result, EXCLUDED.result),
  resources = COALESCE(t.resources, EXCLUDED.resources),
  run_seconds = COALESCE(t.run_seconds, EXCLUDED.run_seconds),
  worker_host = COALESCE(EXCLUDED.worker_host, t.worker_host),
  retry_of = COALESCE(t.retry_of, EXCLUDED.retry_of),
  retried_as = COALESCE(EXCLUDED.retried_as, t.retried_as),
  dead_lettered_at = COALESCE(t.dead_lettered_at, EXCLUDED.dead_lettered_at),
  updated_at = GREATEST(EXCLUDED.updated_at, t.updated_at),
  cost = COALESCE(t.cost, EXCLUDED.cost),
  cost_micros = COALESCE(t.cost_micros, EXCLUDED.cost_micros)
"""  # noqa: S608 - only the constant column names are formatted in

EVENT_COLUMNS = (
    "event_id", "stream_ms", "stream_seq", "task_id", "kind", "occurred_at", "user_id",
    "task_type", "priority", "attempts", "reason", "error", "error_type", "exit_code",
    "result", "resources", "run_seconds", "worker_host", "detail",
)  # fmt: skip

_INSERT_EVENT = f"""
INSERT INTO task_events ({", ".join(EVENT_COLUMNS)})
VALUES ({", ".join(f"%({c})s" for c in EVENT_COLUMNS)})
ON CONFLICT (event_id) DO NOTHING
"""  # noqa: S608 - only the constant column names are formatted in

_OUTCOME_KINDS = ENDINGS | {EventKind.DEAD_LETTERED}


def _jsonb(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)


def task_row(event: TaskEvent) -> Row:
    """The task's columns as this event knows them (None = not known here)."""
    outcome = event.kind in _OUTCOME_KINDS
    return {
        "task_id": event.task_id,
        "user_id": event.user_id or "",
        "task_type": event.task_type or "",
        "priority": event.priority,
        "status": event.status,
        "status_rank": event.status_rank,
        "cancelled": event.cancelled,
        "source": event.source,
        "input": _jsonb(event.task_input),
        "created_at": event.created_at or event.occurred_at,
        "admitted_at": event.admitted_at,
        "started_at": event.started_at,
        "completed_at": event.completed_at if event.kind in ENDINGS else None,
        "attempts": event.attempts,
        "reason": event.reason if outcome else None,
        "error": event.error if outcome else None,
        "error_type": event.error_type if outcome else None,
        "exit_code": event.exit_code if outcome else None,
        "result": _jsonb(event.result) if event.kind is EventKind.SUCCEEDED else None,
        "resources": _jsonb(event.resources),
        "run_seconds": event.run_seconds,
        "worker_host": event.worker_host,
        "retry_of": event.retry_of,
        "retried_as": event.retried_as,
        "dead_lettered_at": event.occurred_at if event.kind is EventKind.DEAD_LETTERED else None,
        "updated_at": event.occurred_at,
        "cost": _jsonb(event.cost) if event.kind in ENDINGS else None,
        "cost_micros": event.cost_micros if event.kind in ENDINGS else None,
    }


def event_row(event: TaskEvent) -> Row:
    return {
        "event_id": event.event_id,
        "stream_ms": event.stream_ms,
        "stream_seq": event.stream_seq,
        "task_id": event.task_id,
        "kind": event.kind.value,
        "occurred_at": event.occurred_at,
        "user_id": event.user_id or "",
        "task_type": event.task_type or "",
        "priority": event.priority,
        "attempts": event.attempts,
        "reason": event.reason,
        "error": event.error,
        "error_type": event.error_type,
        "exit_code": event.exit_code,
        "result": _jsonb(event.result) if event.kind is EventKind.SUCCEEDED else None,
        "resources": _jsonb(event.resources) if event.kind is EventKind.ADMITTED else None,
        "run_seconds": event.run_seconds,
        "worker_host": event.worker_host,
        "detail": Jsonb(event.detail()),
    }


async def write_events(conn: AsyncConnection[Any], events: Sequence[TaskEvent]) -> int:
    """Write a batch in one transaction; returns how many events were new rows."""
    if not events:
        return 0
    async with conn.transaction(), conn.cursor() as cur:
        await cur.executemany(_UPSERT_TASK, [task_row(e) for e in events])
        await cur.executemany(_INSERT_EVENT, [event_row(e) for e in events])
        return max(0, int(cur.rowcount))


# ------------------------------------------------------------------ queries


@dataclass(frozen=True)
class TaskQuery:
    """Filters of GET /v1/tasks; `user_id` None = every user (operator tokens only)."""

    user_id: str | None = None
    task_type: str | None = None
    status: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    limit: int = 50
    cursor: Cursor | None = None


@dataclass(frozen=True)
class TaskPage:
    tasks: list[Row]
    next_cursor: str | None


async def list_tasks(conn: AsyncConnection[Any], query: TaskQuery) -> TaskPage:
    """One page, newest first; `next_cursor` is None on the last page."""
    where: list[sql.Composable] = []
    params: list[Any] = []
    for column, value in (
        ("user_id", query.user_id),
        ("task_type", query.task_type),
        ("status", query.status),
    ):
        if value is not None:
            where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    if query.created_after is not None:
        where.append(sql.SQL("created_at > %s"))
        params.append(query.created_after)
    if query.created_before is not None:
        where.append(sql.SQL("created_at < %s"))
        params.append(query.created_before)
    if query.cursor is not None:
        where.append(sql.SQL("(created_at, task_id) < (%s, %s)"))
        params += [query.cursor.created_at, query.cursor.task_id]
    statement = sql.SQL("SELECT * FROM tasks {} ORDER BY created_at DESC, task_id DESC LIMIT %s")
    clause = sql.SQL("WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement.format(clause), [*params, query.limit + 1])
        rows = await cur.fetchall()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = Cursor(rows[-1]["created_at"], rows[-1]["task_id"]).encode() if more else None
    return TaskPage(rows, cursor)


async def ended_between(
    conn: AsyncConnection[Any], since: datetime, until: datetime, task_type: str | None = None
) -> list[Row]:
    """The times of the tasks that ended (completed or failed, not cancelled) in
    [since, until), for the SLA report. A task that ended in the window changed in
    it, so the updated_at index bounds the scan."""
    statement = """
        SELECT task_type, created_at, admitted_at, completed_at,
               input ->> 'schedule_at' AS schedule_at
        FROM tasks
        WHERE updated_at >= %s AND completed_at >= %s AND completed_at < %s
          AND status IN ('completed', 'failed') AND NOT cancelled
          AND (%s::text IS NULL OR task_type = %s)
    """
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, [since, since, until, task_type, task_type])
        return await cur.fetchall()


async def get_task(conn: AsyncConnection[Any], task_id: str) -> Row | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM tasks WHERE task_id = %s", [task_id])
        return await cur.fetchone()


async def task_events(conn: AsyncConnection[Any], task_id: str) -> list[Row]:
    """A task's transitions in the order Redis recorded them."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM task_events WHERE task_id = %s ORDER BY stream_ms, stream_seq",
            [task_id],
        )
        return await cur.fetchall()


async def delete_expired(conn: AsyncConnection[Any], before: datetime, batch: int) -> int:
    """Delete up to `batch` tasks (and their events) unchanged since `before`."""
    async with conn.transaction(), conn.cursor() as cur:
        await cur.execute(
            """
            DELETE FROM tasks WHERE task_id IN (
              SELECT task_id FROM tasks WHERE updated_at < %s ORDER BY updated_at LIMIT %s
              FOR UPDATE SKIP LOCKED)
            """,
            [before, batch],
        )
        return int(cur.rowcount)


class HistoryReader:
    """The API's connections: a pool opened on first use, connecting in the
    background (a database outage never blocks startup) and checking each
    connection before handing it out."""

    def __init__(self, database_url: str, *, max_size: int = 4, timeout: float = 5.0) -> None:
        self.pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            database_url,
            min_size=1,
            max_size=max_size,
            timeout=timeout,
            open=False,
            check=AsyncConnectionPool.check_connection,
            kwargs={"autocommit": True},
        )
        self._opened = False

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        if not self._opened:
            self._opened = True
            await self.pool.open(wait=False)
        async with self.pool.connection() as conn:
            yield conn

    async def close(self) -> None:
        if self._opened:
            await self.pool.close()
