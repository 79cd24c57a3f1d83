"""Cancel a task from the API.

A queued task is cancelled on the spot, in one script: removed from its queue
and finished as status ``failed`` with ``error="cancelled by user"`` and
``cancelled=1`` (the seed has no "cancelled" status and clients only know its
four). A task already claimed or running gets ``cancel_requested=1`` and joins
the `keys.CANCEL_REQUESTS` set; the bridge executes it by deleting the CR,
since the API holds no Kubernetes credentials (least privilege).
"""

from __future__ import annotations

from enum import StrEnum

from devskyy_operator import keys
from devskyy_operator.redisq import scripts
from devskyy_operator.redisq.errors import TaskFinished, TaskNotFound
from devskyy_operator.redisq.scripts import Redis

CANCEL_ERROR = "cancelled by user"


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"  # was queued; now failed/cancelled
    REQUESTED = "requested"  # claimed or running; the bridge deletes its CR


async def cancel(
    client: Redis,
    task_id: str,
    *,
    record_ttl_seconds: int,
    now: float | None = None,
) -> CancelOutcome:
    """Cancel or request cancellation; raises TaskNotFound or TaskFinished."""
    outcome, status = await scripts.CANCEL(
        client,
        [keys.task_key(task_id), keys.CANCEL_REQUESTS, keys.HISTORY_STREAM],
        [
            task_id,
            keys.QUEUE_PREFIX,
            keys.USER_QUEUED_PREFIX,
            "" if now is None else f"{now:.6f}",
            record_ttl_seconds,
        ],
    )
    if outcome == "missing":
        raise TaskNotFound(f"task {task_id} not found")
    if outcome == "finished":
        raise TaskFinished(task_id, status)
    return CancelOutcome(outcome)


async def pending_cancel_requests(client: Redis) -> set[str]:
    """Ids whose CR the bridge must delete."""
    return set(await client.smembers(keys.CANCEL_REQUESTS))


async def forget_cancel_request(client: Redis, task_id: str) -> None:
    """The bridge calls this after it deleted the CR (or found none)."""
    await client.srem(keys.CANCEL_REQUESTS, task_id)
