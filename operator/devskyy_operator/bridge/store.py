"""The bridge's own Redis writes, beside the queue library's claim/release.

`devskyy:bridged:<type>` indexes every id the bridge claimed until its hash is
final or gone, so the sweeper finds in-flight tasks without KEYS or SCAN.
`bridged_at` in the task hash records that a resource was created for it: the
sweeper tells "never created, requeue" from "created, then lost" by it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from redis.exceptions import NoScriptError

from devskyy_agents.clock import utc_iso
from devskyy_operator import keys
from devskyy_operator.redisq.claim import ClaimedTask
from devskyy_operator.redisq.scripts import LuaScript, Redis

# KEYS: the type's leases, then one task hash per id. ARGV: bridged_at, then the ids
# (ARGV[i] is the id of KEYS[i]). Each lease goes only together with its marker.
_RELEASE_BRIDGED = LuaScript(
    "bridge_release",
    """
local released = 0
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('HSET', KEYS[i], 'bridged_at', ARGV[1]) end
  released = released + redis.call('ZREM', KEYS[1], ARGV[i])
end
return released
""",
)

RELEASE_CHUNK = 500  # ids per script call: bounded time inside Redis

# KEYS: task, queue, leases. ARGV: id, user-queued prefix.
# Back into the queue with its original score, only if still pending and nowhere else.
_REQUEUE_ORPHAN = LuaScript(
    "bridge_requeue_orphan",
    """
local rec = redis.call('HMGET', KEYS[1], 'status', 'queue_score', 'user_id', 'bridged_at')
if rec[1] ~= 'pending' or not rec[2] or rec[4] then return 0 end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) or redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[2], rec[2], ARGV[1])
if rec[3] then redis.call('SADD', ARGV[2] .. rec[3], ARGV[1]) end
return 1
""",
)


async def index_claimed(
    client: Redis, task_type: str, claimed: Sequence[ClaimedTask], *, region: str | None = None
) -> None:
    """Remember claimed ids for the sweeper (NX: keep the first claim time)."""
    if claimed:
        now = time.time()
        index = keys.bridged_key(task_type, region)
        await client.zadd(index, {t.task_id: now for t in claimed}, nx=True)


async def release_bridged(
    client: Redis, tasks: Sequence[ClaimedTask], *, region: str | None = None
) -> None:
    """`queue.release` for resources that exist, plus the `bridged_at` marker, atomically
    per task; one script call per type (and per RELEASE_CHUNK ids), one round trip."""
    if not tasks:
        return
    stamp = utc_iso()
    by_type: dict[str, list[str]] = {}
    for task in tasks:
        by_type.setdefault(task.task_type, []).append(task.task_id)
    calls = [
        (keys.leases_key(task_type, region), ids[start : start + RELEASE_CHUNK])
        for task_type, ids in by_type.items()
        for start in range(0, len(ids), RELEASE_CHUNK)
    ]
    for attempt in (1, 2):
        try:
            async with client.pipeline(transaction=False) as pipe:
                for leases, ids in calls:
                    task_keys = [keys.task_key(task_id) for task_id in ids]
                    pipe.evalsha(
                        _RELEASE_BRIDGED.sha, 1 + len(ids), leases, *task_keys, stamp, *ids
                    )
                await pipe.execute()
            return
        except NoScriptError:
            if attempt == 2:
                raise
            await client.script_load(_RELEASE_BRIDGED.source)  # type: ignore[no-untyped-call]


async def requeue_orphan(
    client: Redis, task_type: str, task_id: str, *, region: str | None = None
) -> bool:
    """A pending task that no queue, lease or resource holds goes back to its queue."""
    queue, leases = keys.queue_key(task_type, region), keys.leases_key(task_type, region)
    moved = await _REQUEUE_ORPHAN(
        client,
        [keys.task_key(task_id), queue, leases],
        [task_id, keys.USER_QUEUED_PREFIX],
    )
    return bool(moved)
