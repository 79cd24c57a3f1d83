"""worker_queue_size{type} and devskyy_bridge_lag_seconds{type}, read from Redis.

Lag is the age of the task at the head of `queue:<type>`: the one the bridge
takes next (highest priority, oldest within it). A cheaper stand-in for "the
oldest queued task": finding that one needs a scan across priority bands.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from devskyy_operator import keys
from devskyy_operator.crd.task_view import parse_time
from devskyy_operator.metrics import BRIDGE_LAG, QUEUE_SIZE
from devskyy_operator.redisq.scripts import Redis


async def publish_queue_metrics(
    redis: Redis, task_types: Sequence[str], region: str | None = None
) -> None:
    """The queues this bridge claims from (its region's, or the seed's)."""
    async with redis.pipeline(transaction=False) as pipe:
        for task_type in task_types:
            pipe.zcard(keys.queue_key(task_type, region))
            pipe.zrange(keys.queue_key(task_type, region), 0, 0)
        replies = await pipe.execute()
    heads: dict[str, str] = {}
    for i, task_type in enumerate(task_types):
        QUEUE_SIZE.labels(task_type).set(int(replies[2 * i]))
        if replies[2 * i + 1]:
            heads[task_type] = str(replies[2 * i + 1][0])
        else:
            BRIDGE_LAG.labels(task_type).set(0)
    if not heads:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for task_id in heads.values():
            pipe.hget(keys.task_key(task_id), "created_at")
        created = await pipe.execute()
    now = time.time()
    for (task_type, _), stamp in zip(heads.items(), created, strict=True):
        moment = parse_time(stamp)
        BRIDGE_LAG.labels(task_type).set(max(0.0, now - moment.timestamp()) if moment else 0.0)
