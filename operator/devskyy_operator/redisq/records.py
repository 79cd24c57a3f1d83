"""Reading task hashes: one record, or a user's tasks newest first."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from devskyy_operator import keys
from devskyy_operator.redisq.scripts import Redis

TERMINAL_STATUSES = frozenset({"completed", "failed"})
# Task hash fields beside the seed's, written by the API: the user's tier and the
# priority the caller asked for (`priority` holds the one placed in the tier's band).
TIER_FIELD = "tier"
REQUESTED_PRIORITY_FIELD = "requested_priority"


@dataclass(frozen=True)
class TaskRecord:
    """The task hash, with the fields clients read typed; everything else in `raw`."""

    task_id: str
    task_type: str
    status: str
    user_id: str
    priority: int
    created_at: str
    started_at: str
    completed_at: str
    worker_host: str
    attempts: int
    data: Any
    result: Any
    error: str
    cancelled: bool
    cancel_requested: bool
    raw: dict[str, str] = field(repr=False)
    tier: str = ""
    requested_priority: int | None = None
    cache_hit: bool = False  # the result is a stored one (result cache), no Job ran
    cached_from: str = ""  # the task that ran and produced it
    cost: Any = None  # the finished task's cost (cost/model.py TaskCost JSON)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


def _json_or_none(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _int(text: str | None, default: int = 0) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default


def record_from_hash(task_id: str, raw: dict[str, str]) -> TaskRecord:
    return TaskRecord(
        task_id=task_id,
        task_type=raw.get("task_type", ""),
        status=raw.get("status", ""),
        user_id=raw.get("user_id", ""),
        priority=_int(raw.get("priority")),
        created_at=raw.get("created_at", ""),
        started_at=raw.get("started_at", ""),
        completed_at=raw.get("completed_at", ""),
        worker_host=raw.get("worker_host", ""),
        attempts=_int(raw.get("attempts")),
        data=_json_or_none(raw.get("data")),
        result=_json_or_none(raw.get("result")),
        error=raw.get("error", ""),
        cancelled=raw.get("cancelled") == "1",
        cancel_requested=raw.get("cancel_requested") == "1",
        raw=raw,
        tier=raw.get(TIER_FIELD, ""),
        requested_priority=(
            _int(raw[REQUESTED_PRIORITY_FIELD]) if raw.get(REQUESTED_PRIORITY_FIELD) else None
        ),
        cache_hit=raw.get("cache_hit") == "1",
        cached_from=raw.get("cached_from", ""),
        cost=_json_or_none(raw.get("cost")),
    )


async def get_task(client: Redis, task_id: str) -> TaskRecord | None:
    raw = await client.hgetall(keys.task_key(task_id))
    return record_from_hash(task_id, raw) if raw else None


async def list_user_tasks(
    client: Redis, user_id: str, *, status: str | None = None, limit: int = 50
) -> list[TaskRecord]:
    """A user's tasks, newest first; ids whose hash expired are pruned from the index."""
    index = keys.user_tasks_key(user_id)
    found: list[TaskRecord] = []
    start, page = 0, max(limit, 50)
    while len(found) < limit:
        ids = await client.zrevrange(index, start, start + page - 1)
        if not ids:
            break
        async with client.pipeline(transaction=False) as pipe:
            for task_id in ids:
                pipe.hgetall(keys.task_key(task_id))
            hashes: list[dict[str, str]] = await pipe.execute()
        stale = [task_id for task_id, raw in zip(ids, hashes, strict=True) if not raw]
        if stale:
            await client.zrem(index, *stale)
            start -= len(stale)
        for task_id, raw in zip(ids, hashes, strict=True):
            if raw and (status is None or raw.get("status") == status):
                found.append(record_from_hash(task_id, raw))
        start += page
    return found[:limit]
