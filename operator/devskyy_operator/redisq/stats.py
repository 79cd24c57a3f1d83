"""Queue sizes, a task's place in its queue and an estimated wait.

The wait estimate divides the position by the recent throughput of the type:
finished tasks in `keys.completions_key(type)` over the last window.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from devskyy_agents.models import TaskType
from devskyy_operator import keys
from devskyy_operator.redisq.scripts import Redis


@dataclass(frozen=True)
class QueuePosition:
    position: int  # 0 = next to be claimed
    queued: int  # tasks in this type's queue
    estimated_wait_seconds: float | None  # None without recent throughput


async def queue_sizes(
    client: Redis, task_types: Iterable[TaskType | str] = tuple(TaskType)
) -> dict[str, int]:
    """ZCARD of each queue, in one round trip."""
    names = [str(t) for t in task_types]
    async with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.zcard(keys.queue_key(name))
        counts: list[int] = await pipe.execute()
    return dict(zip(names, counts, strict=True))


async def throughput(
    client: Redis, task_type: TaskType | str, window_seconds: float, *, now: float | None = None
) -> float:
    """Finished tasks per second of one type over the last `window_seconds`."""
    now = time.time() if now is None else now
    finished = await client.zcount(keys.completions_key(task_type), now - window_seconds, "+inf")
    return finished / window_seconds


async def queue_position(
    client: Redis,
    task_type: TaskType | str,
    task_id: str,
    *,
    window_seconds: float,
    now: float | None = None,
    region: str | None = None,
) -> QueuePosition | None:
    """Where a queued task stands in its queue (its region's, if it has one); None
    when it is not in the queue."""
    queue = keys.queue_key(task_type, region)
    async with client.pipeline(transaction=False) as pipe:
        pipe.zrank(queue, task_id)
        pipe.zcard(queue)
        rank, size = await pipe.execute()
    if rank is None:
        return None
    rate = await throughput(client, task_type, window_seconds, now=now)
    wait = (rank + 1) / rate if rate > 0 else None
    return QueuePosition(position=int(rank), queued=int(size), estimated_wait_seconds=wait)
