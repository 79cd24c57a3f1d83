"""Schedules from the API: the desired state in Redis, the bridge's to-do list, the
observed status it mirrors back.

The API holds no Kubernetes credentials (least privilege), so a schedule is
written here (`keys.SCHEDULES`) together with a revision in
`keys.SCHEDULE_CHANGES`, in one script; the bridge applies each changed name to
its DevSkyySchedule CR (or deletes the CR when the name is gone) and settles the
revision it applied. The spec is stored as the API validated it (by alias, the
CR's own shape); this layer does not interpret it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from devskyy_operator import keys
from devskyy_operator.redisq import scripts
from devskyy_operator.redisq.errors import (
    ScheduleChanged,
    ScheduleExists,
    ScheduleNotFound,
    ScheduleQuotaExceeded,
)
from devskyy_operator.redisq.scripts import Redis


@dataclass(frozen=True)
class StoredSchedule:
    """A desired schedule; `raw` is the stored JSON (the compare-and-set token)."""

    name: str
    user_id: str
    spec: dict[str, Any]
    created_at: str
    raw: str

    @classmethod
    def parse(cls, name: str, raw: str) -> StoredSchedule:
        data = json.loads(raw)
        return cls(name, str(data["user_id"]), dict(data["spec"]), str(data["created_at"]), raw)


def _record(user_id: str, spec: dict[str, Any], created_at: str) -> str:
    return json.dumps({"user_id": user_id, "spec": spec, "created_at": created_at})


async def _write(
    client: Redis,
    name: str,
    mode: str,
    *,
    expected: StoredSchedule | None = None,
    record: str = "",
    owner: str = "",
    cap: int = 0,
) -> None:
    old_owner = expected.user_id if expected is not None else owner
    outcome = await scripts.SCHEDULE_WRITE(
        client,
        [
            keys.SCHEDULES,
            keys.SCHEDULE_CHANGES,
            keys.SCHEDULE_REVISION,
            keys.user_schedules_key(owner or old_owner),
            keys.user_schedules_key(old_owner),
        ],
        [name, mode, expected.raw if expected is not None else "", record, cap],
    )
    if outcome == "exists":
        raise ScheduleExists(f"schedule {name} already exists")
    if outcome == "missing":
        raise ScheduleNotFound(f"schedule {name} not found")
    if outcome == "changed":
        raise ScheduleChanged(f"schedule {name} changed meanwhile; read it and try again")
    if outcome == "full":
        raise ScheduleQuotaExceeded(f"user {owner} already has {cap} schedules (the maximum)")


async def create_schedule(
    client: Redis, name: str, user_id: str, spec: dict[str, Any], created_at: str, *, cap: int
) -> StoredSchedule:
    """Store a new schedule; ScheduleExists if the name is taken, ScheduleQuotaExceeded
    if the user has `cap` already."""
    record = _record(user_id, spec, created_at)
    await _write(client, name, "create", record=record, owner=user_id, cap=cap)
    return StoredSchedule(name, user_id, spec, created_at, record)


async def replace_schedule(
    client: Redis, current: StoredSchedule, user_id: str, spec: dict[str, Any], *, cap: int
) -> StoredSchedule:
    """Replace the spec of `current` as read; ScheduleChanged if it changed since."""
    record = _record(user_id, spec, current.created_at)
    await _write(
        client, current.name, "update", expected=current, record=record, owner=user_id, cap=cap
    )
    return StoredSchedule(current.name, user_id, spec, current.created_at, record)


async def delete_schedule(client: Redis, current: StoredSchedule) -> None:
    """Remove `current` as read; the bridge deletes its CR (and so its future runs)."""
    await _write(client, current.name, "delete", expected=current)


async def get_schedule(client: Redis, name: str) -> StoredSchedule | None:
    raw = await client.hget(keys.SCHEDULES, name)
    return None if raw is None else StoredSchedule.parse(name, raw)


async def all_schedules(client: Redis) -> list[StoredSchedule]:
    """Every desired schedule, by name."""
    stored = await client.hgetall(keys.SCHEDULES)
    return [StoredSchedule.parse(name, stored[name]) for name in sorted(stored)]


async def observed_status(client: Redis, names: list[str]) -> dict[str, dict[str, Any]]:
    """The CR status the bridge mirrored for each of `names` (absent: not seen yet)."""
    if not names:
        return {}
    found = await client.hmget(keys.SCHEDULE_STATUS, names)
    return {name: json.loads(raw) for name, raw in zip(names, found, strict=True) if raw}


# --- the bridge's side


async def pending_changes(client: Redis) -> dict[str, str]:
    """Names the bridge must apply, with the revision to settle afterwards."""
    return dict(await client.hgetall(keys.SCHEDULE_CHANGES))


async def settle_change(client: Redis, name: str, revision: str) -> bool:
    """Forget the change if no newer one came meanwhile; True when forgotten."""
    return bool(await scripts.SCHEDULE_SETTLED(client, [keys.SCHEDULE_CHANGES], [name, revision]))


async def mirror_status(client: Redis, statuses: dict[str, dict[str, Any]]) -> None:
    """Replace the mirrored statuses at once (MULTI): names absent here are dropped."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.delete(keys.SCHEDULE_STATUS)
        if statuses:
            pipe.hset(
                keys.SCHEDULE_STATUS,
                mapping={name: json.dumps(status) for name, status in statuses.items()},
            )
        await pipe.execute()
