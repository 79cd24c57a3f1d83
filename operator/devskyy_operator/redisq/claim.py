"""The bridge's side of the queue: claim ids under a lease, release them once the
DevSkyyTask exists, and put back leases a crashed bridge left behind.

Protocol: `claim` -> create the CR -> `release` (also after a 409 for the same
task). Until `release`, the id sits in the lease set; `reclaim_expired` returns
leases past their expiry to the queue with their original score, so a task is
never lost and, thanks to Kubernetes name uniqueness, never created twice.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from devskyy_agents.models import TaskSpec, TaskType, parse_spec
from devskyy_operator import keys
from devskyy_operator.redisq import scripts
from devskyy_operator.redisq.scripts import Redis

RECLAIM_BATCH = 1000
_new_tuple = tuple.__new__


class ClaimedTask(NamedTuple):
    """One claimed task as the claim script returns it (a tuple: cheap to build in bulk)."""

    task_id: str
    task_type: str
    spec_json: str  # the TaskSpec by alias, exactly as enqueued
    user_id: str
    created_at: str
    tier: str = ""  # the user tier the API queued it in; "" for records without one

    def spec(self) -> TaskSpec:
        """The spec re-validated (it was validated at enqueue; this guards old records)."""
        raw: dict[str, Any] = json.loads(self.spec_json)
        return parse_spec(raw)


def _now_arg(now: float | None) -> str:
    return "" if now is None else f"{now:.6f}"


async def claim(
    client: Redis,
    task_type: TaskType | str,
    n: int,
    lease_seconds: float,
    *,
    max_leased: int | None = None,
    now: float | None = None,
    region: str | None = None,
) -> list[ClaimedTask]:
    """Move the `n` best queued ids of a type into its lease set, best first.

    `max_leased` caps the type's lease set after the claim, counting every
    bridge's leases (checked inside the script, so bridges cannot race past it):
    N bridges then share one window instead of opening N. `now` overrides the
    server clock (tests only). `region`: that region's queue instead of the seed's.
    """
    if n <= 0 or (max_leased is not None and max_leased <= 0):
        return []
    flat = await scripts.CLAIM(
        client,
        [keys.queue_key(task_type, region), keys.leases_key(task_type, region)],
        [
            n,
            lease_seconds,
            keys.TASK_PREFIX,
            keys.USER_QUEUED_PREFIX,
            _now_arg(now),
            "" if max_leased is None else max_leased,
        ],
    )
    kind = str(task_type)
    rows = iter(flat)
    # tuple.__new__ skips the NamedTuple's Python-level __new__: a third of the
    # client-side cost of a large batch.
    return [
        _new_tuple(ClaimedTask, (task_id, kind, spec or "", user or "", created or "", tier or ""))
        for task_id, status, spec, user, created, tier in zip(
            rows, rows, rows, rows, rows, rows, strict=True
        )
        if status == "pending"
    ]


async def release(
    client: Redis, task_type: TaskType | str, task_id: str, *, region: str | None = None
) -> bool:
    """Drop the lease once the CR exists (201, or 409 for this same task)."""
    return bool(await client.zrem(keys.leases_key(task_type, region), task_id))


async def extend_lease(
    client: Redis,
    task_type: TaskType | str,
    task_id: str,
    lease_seconds: float,
    *,
    now: float | None = None,
    region: str | None = None,
) -> bool:
    """Push a held lease's expiry to now + lease_seconds; False if it is no longer held."""
    changed = await scripts.EXTEND_LEASE(
        client, [keys.leases_key(task_type, region)], [task_id, lease_seconds, _now_arg(now)]
    )
    held = await client.zscore(keys.leases_key(task_type, region), task_id)
    return bool(changed) or held is not None


async def reclaim_expired(
    client: Redis,
    task_type: TaskType | str,
    *,
    record_ttl_seconds: int,
    now: float | None = None,
    region: str | None = None,
) -> int:
    """Return expired leases to the queue (original score); count the requeued ids.

    A lease whose task got a cancel request is finished as cancelled instead.
    """
    total = 0
    while True:
        requeued, seen = await scripts.RECLAIM(
            client,
            [
                keys.leases_key(task_type, region),
                keys.queue_key(task_type, region),
                keys.CANCEL_REQUESTS,
                keys.HISTORY_STREAM,
            ],
            [
                keys.TASK_PREFIX,
                keys.USER_QUEUED_PREFIX,
                _now_arg(now),
                record_ttl_seconds,
                RECLAIM_BATCH,
            ],
        )
        total += int(requeued)
        if int(seen) < RECLAIM_BATCH:
            return total


async def hand_back(
    client: Redis,
    task_type: TaskType | str,
    task_ids: list[str],
    *,
    record_ttl_seconds: int,
    region: str | None = None,
) -> int:
    """Return leases still held to the queue now, not when they expire (a clean stop).

    They take the path of an expired lease (original score, cancel requests
    honoured), so a create that reached the apiserver after all meets 409 for
    the same task when the id is claimed again: nothing is created twice."""
    if not task_ids:
        return 0
    await client.zadd(keys.leases_key(task_type, region), dict.fromkeys(task_ids, 0), xx=True)
    return await reclaim_expired(
        client, task_type, record_ttl_seconds=record_ttl_seconds, region=region
    )


async def leased_ids(
    client: Redis, task_type: TaskType | str, *, region: str | None = None
) -> dict[str, float]:
    """Held leases and their expiry (for the sweeper and for tests)."""
    leases = keys.leases_key(task_type, region)
    return dict(await client.zrange(leases, 0, -1, withscores=True))
