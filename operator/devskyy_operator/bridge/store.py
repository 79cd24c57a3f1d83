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

from devskyy_operator import keys
from devskyy_operator.queue.claim import ClaimedTask
from devskyy_operator.queue.clock import utc_iso
from devskyy_operator.queue.scripts import LuaScript, Redis

BRIDGED_FIELD = "bridged_at"

# KEYS: task, leases. ARGV: id, bridged_at. The lease goes only with the marker set.
_RELEASE_BRIDGED = LuaScript(
    "bridge_release",
    """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'bridged_at', ARGV[2]) end
return redis.call('ZREM', KEYS[2], ARGV[1])
""",
)

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


async def index_claimed(client: Redis, task_type: str, claimed: Sequence[ClaimedTask]) -> None:
    """Remember claimed ids for the sweeper (NX: keep the first claim time)."""
    if claimed:
        now = time.time()
        await client.zadd(keys.bridged_key(task_type), {t.task_id: now for t in claimed}, nx=True)


async def release_bridged(client: Redis, tasks: Sequence[ClaimedTask]) -> None:
    """`queue.release` for resources that exist, plus the `bridged_at` marker, atomically."""
    if not tasks:
        return
    stamp = utc_iso()
    for attempt in (1, 2):
        try:
            async with client.pipeline(transaction=False) as pipe:
                for task in tasks:
                    task_key, leases = keys.task_key(task.task_id), keys.leases_key(task.task_type)
                    pipe.evalsha(_RELEASE_BRIDGED.sha, 2, task_key, leases, task.task_id, stamp)
                await pipe.execute()
            return
        except NoScriptError:
            if attempt == 2:
                raise
            await client.script_load(_RELEASE_BRIDGED.source)  # type: ignore[no-untyped-call]


async def requeue_orphan(client: Redis, task_type: str, task_id: str) -> bool:
    """A pending task that no queue, lease or resource holds goes back to its queue."""
    moved = await _REQUEUE_ORPHAN(
        client,
        [keys.task_key(task_id), keys.queue_key(task_type), keys.leases_key(task_type)],
        [task_id, keys.USER_QUEUED_PREFIX],
    )
    return bool(moved)
