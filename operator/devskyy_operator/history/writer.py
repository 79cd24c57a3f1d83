"""The history writer: drains the Redis stream of transitions into PostgreSQL.

At-least-once delivery made exactly-once rows: entries are read through a
consumer group, written in one transaction (event rows keyed by entry id, ON
CONFLICT DO NOTHING), and acknowledged only after the commit. A crash between
commit and ack redelivers entries that are already rows: nothing is added. While
PostgreSQL is down the batch is retried with backoff and nothing is acknowledged;
the scripts keep appending, so tasks never wait for the database. Written entries
are trimmed from the stream; the lag metric is the age of the oldest one left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from redis.exceptions import RedisError, ResponseError

from devskyy_operator import keys
from devskyy_operator.history.events import InvalidEvent, TaskEvent, parse_entry
from devskyy_operator.history.store import write_events
from devskyy_operator.metrics import (
    HISTORY_BACKLOG,
    HISTORY_DROPPED,
    HISTORY_LAG,
    HISTORY_WRITE_ERRORS,
    HISTORY_WRITTEN,
)
from devskyy_operator.redisq.scripts import Redis
from devskyy_operator.settings import Settings

log = logging.getLogger("devskyy.history")
Entry = tuple[str, dict[str, str] | None]


async def ensure_group(redis: Redis) -> None:
    """Create the stream and the writers' group (from the stream's start); idempotent.

    From this moment on the scripts record transitions."""
    try:
        await redis.xgroup_create(keys.HISTORY_STREAM, keys.HISTORY_GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def next_id(entry_id: str) -> str:
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


@dataclass
class Batch:
    entries: list[Entry]

    @property
    def ids(self) -> list[str]:
        return [entry_id for entry_id, _ in self.entries]


class HistoryWriter:
    def __init__(self, redis: Redis, database_url: str, settings: Settings, consumer: str):
        self.redis = redis
        self.database_url = database_url
        self.settings = settings
        self.consumer = consumer
        self.ready = False
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._own_pending_first = True  # after a restart: what this consumer held
        self._next_claim = 0.0

    # ----------------------------------------------------------------- loop

    async def run(self, stop: asyncio.Event) -> None:
        backoff = _Backoff(self.settings.history_retry_max_seconds)
        while not stop.is_set():
            try:
                if not self.ready:
                    await ensure_group(self.redis)
                    self.ready = True
                batch = await self.read()
                if batch.entries:
                    await self.write(batch, stop)
                await self.trim_and_measure()
                backoff.reset()
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # the stream was deleted (e.g. Redis lost its data)
                    self.ready = False
                    continue
                log.warning("history: Redis refused a command: %s", exc)
                await backoff.wait(stop)
            except RedisError as exc:
                log.warning("history: Redis unavailable (%s); retrying", exc)
                await backoff.wait(stop)
        await self.close()

    async def read(self) -> Batch:
        count = self.settings.history_batch_size
        group, stream = keys.HISTORY_GROUP, keys.HISTORY_STREAM
        if self._own_pending_first:
            reply = await self.redis.xreadgroup(group, self.consumer, {stream: "0"}, count=count)
            entries = _entries(reply)
            if entries:
                return Batch(entries)
            self._own_pending_first = False
        if time.monotonic() >= self._next_claim:
            self._next_claim = time.monotonic() + self.settings.history_claim_idle_seconds / 2
            idle_ms = int(self.settings.history_claim_idle_seconds * 1000)
            claimed = await self.redis.xautoclaim(
                stream, group, self.consumer, idle_ms, "0-0", count=count
            )
            entries = [(i, f) for i, f in claimed[1] if i]
            entries += [(i, None) for i in (claimed[2] if len(claimed) > 2 else [])]
            if entries:
                return Batch(entries)
        reply = await self.redis.xreadgroup(
            group, self.consumer, {stream: ">"}, count=count, block=1000
        )
        return Batch(_entries(reply))

    async def write(self, batch: Batch, stop: asyncio.Event) -> None:
        """Write until PostgreSQL took it (or the writer stops: then nothing is acked)."""
        events: list[TaskEvent] = []
        for entry_id, fields in batch.entries:
            if fields is None:
                HISTORY_DROPPED.labels("trimmed").inc()
                continue
            try:
                events.append(parse_entry(entry_id, fields))
            except InvalidEvent as exc:
                log.error("history: dropping stream entry %s: %s", entry_id, exc)
                HISTORY_DROPPED.labels("invalid").inc()
        backoff = _Backoff(self.settings.history_retry_max_seconds)
        while events:
            try:
                conn = await self.connection()
                await write_events(conn, events)
                break
            except psycopg.Error as exc:
                HISTORY_WRITE_ERRORS.inc()
                HISTORY_LAG.set(_age(batch.ids[0]))
                log.warning("history: PostgreSQL write failed (%s); retrying", _first_line(exc))
                await self.drop_connection()
                if not await backoff.wait(stop):
                    return
        await self.redis.xack(keys.HISTORY_STREAM, keys.HISTORY_GROUP, *batch.ids)  # type: ignore[no-untyped-call]
        for event in events:
            HISTORY_WRITTEN.labels(event.kind.value).inc()

    async def trim_and_measure(self) -> None:
        """Drop written entries from the stream, enforce the cap, publish lag and backlog."""
        stream, group = keys.HISTORY_STREAM, keys.HISTORY_GROUP
        groups = await self.redis.xinfo_groups(stream)  # type: ignore[no-untyped-call]
        mine = next((g for g in groups if g["name"] == group), None)
        if mine is None:
            return
        if int(mine["pending"]):
            pending = await self.redis.xpending(stream, group)  # type: ignore[no-untyped-call]
            keep_from = str(pending["min"])
        else:
            keep_from = next_id(str(mine["last-delivered-id"]))
        await self.redis.xtrim(stream, minid=keep_from, approximate=False)
        length = int(await self.redis.xlen(stream))
        cap = self.settings.history_stream_max_events
        if length > cap:
            dropped = int(await self.redis.xtrim(stream, maxlen=cap, approximate=False))
            HISTORY_DROPPED.labels("stream_cap").inc(dropped)
            log.error("history: stream over %d entries; dropped the %d oldest", cap, dropped)
            length -= dropped
        HISTORY_BACKLOG.set(length)
        oldest = await self.redis.xrange(stream, count=1)
        HISTORY_LAG.set(_age(oldest[0][0]) if oldest else 0.0)

    # ----------------------------------------------------------------- PostgreSQL

    async def connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self.database_url, autocommit=True, connect_timeout=5
            )
        return self._conn

    async def drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                await self._conn.close()
        self._conn = None

    async def close(self) -> None:
        await self.drop_connection()


class _Backoff:
    """0.25 s doubling up to `ceiling`; `wait` returns False when stopped meanwhile."""

    def __init__(self, ceiling: float) -> None:
        self.ceiling = ceiling
        self.delay = 0.25

    def reset(self) -> None:
        self.delay = 0.25

    async def wait(self, stop: asyncio.Event) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), self.delay)
        self.delay = min(self.ceiling, self.delay * 2)
        return not stop.is_set()


def _entries(reply: Any) -> list[Entry]:
    """XREADGROUP's reply as (id, fields); fields None for an entry trimmed meanwhile."""
    found: list[Entry] = []
    for _stream, items in reply or []:
        for entry_id, fields in items:
            found.append((entry_id, fields or None))
    return found


def _age(entry_id: str) -> float:
    ms = int(entry_id.partition("-")[0])
    return max(0.0, time.time() - ms / 1000)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
