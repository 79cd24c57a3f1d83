"""Retention: tasks unchanged for `history_retention_days` go, with their events,
in batches of `history_retention_batch` (one short transaction each, a pause between),
so a large first cleanup never holds long locks or one huge transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

import psycopg

from devskyy_operator.history.store import delete_expired
from devskyy_operator.metrics import HISTORY_DELETED
from devskyy_operator.settings import Settings

log = logging.getLogger("devskyy.history")
PAUSE_BETWEEN_BATCHES = 0.1


async def purge_once(database_url: str, settings: Settings, now: datetime | None = None) -> int:
    """Delete everything past retention, batch by batch; returns the tasks deleted."""
    if settings.history_retention_days <= 0:
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=settings.history_retention_days)
    total = 0
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, connect_timeout=5
    ) as conn:
        while True:
            deleted = await delete_expired(conn, cutoff, settings.history_retention_batch)
            total += deleted
            HISTORY_DELETED.inc(deleted)
            if deleted < settings.history_retention_batch:
                break
            await asyncio.sleep(PAUSE_BETWEEN_BATCHES)
    if total:
        log.info("history: retention deleted %d tasks older than %s", total, cutoff.isoformat())
    return total


async def run_retention(database_url: str, settings: Settings, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await purge_once(database_url, settings)
        except psycopg.Error as exc:
            log.warning("history: retention skipped (%s)", str(exc).strip().splitlines()[:1])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.history_retention_interval_seconds)
