"""User cancels of claimed or running tasks: the API asks, the bridge deletes the CR.

The API holds no Kubernetes credentials, so it only records the request
(`devskyy:cancel-requests`). Deleting the resource is the cancel: its Job goes
with it and the operator records the task as cancelled. A request is forgotten
only when no create can still follow: the id must not be leased when the
resource was found absent (a bridge may be creating it right now).
"""

from __future__ import annotations

import logging

from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient
from devskyy_operator.redisq.cancel import forget_cancel_request, pending_cancel_requests
from devskyy_operator.redisq.records import TERMINAL_STATUSES
from devskyy_operator.redisq.scripts import Redis

log = logging.getLogger("devskyy.bridge")
MAX_PER_CYCLE = 100


async def execute_cancels(
    redis: Redis, kube: KubeClient, tasks_path: str, region: str | None = None
) -> int:
    """Delete the resources of requested cancels of this bridge's region (another
    region's requests are its bridge's); return how many requests were settled."""
    settled = 0
    for task_id in sorted(await pending_cancel_requests(redis)):
        if settled >= MAX_PER_CYCLE:
            break
        status, task_type, of_region = await redis.hmget(
            keys.task_key(task_id), ["status", "task_type", "region"]
        )
        if status is not None and (of_region or None) != region:
            continue  # another region's task: its bridge deletes its resource
        if status is None or status in TERMINAL_STATUSES:
            await forget_cancel_request(redis, task_id)  # nothing left to stop
            settled += 1
            continue
        leases = keys.leases_key(task_type or "", region)
        leased = await redis.zscore(leases, task_id) is not None
        deleted = await kube.delete(f"{tasks_path}/{task_id}", propagation="Background")
        if deleted is None and leased:
            continue  # a create may be in flight: look again next cycle
        log.info(
            "task %s cancelled by user: resource %s", task_id, "deleted" if deleted else "absent"
        )
        await forget_cancel_request(redis, task_id)
        settled += 1
    return settled
