"""The Redis side of the data path: enqueue, claim/lease, cancel, stats and the
operator's task-hash writer (dead letters live in `devskyy_operator.deadletter`).
All multi-key changes are single Lua scripts (`lua.py`); clients are redis.asyncio
with ``decode_responses=True`` (`connect`)."""

from devskyy_operator.redisq.cancel import CancelOutcome, cancel
from devskyy_operator.redisq.claim import (
    ClaimedTask,
    claim,
    extend_lease,
    reclaim_expired,
    release,
)
from devskyy_operator.redisq.enqueue import Enqueued, EnqueueLimits, enqueue
from devskyy_operator.redisq.errors import (
    DeadLetterChanged,
    DeadLetterInvalid,
    IdempotencyConflict,
    QueueError,
    QueueFull,
    RateLimited,
    TaskExists,
    TaskFinished,
    TaskNotFound,
)
from devskyy_operator.redisq.records import TaskRecord, get_task, list_user_tasks
from devskyy_operator.redisq.scripts import Redis, connect
from devskyy_operator.redisq.stats import QueuePosition, queue_position, queue_sizes

__all__ = [
    "CancelOutcome",
    "ClaimedTask",
    "DeadLetterChanged",
    "DeadLetterInvalid",
    "EnqueueLimits",
    "Enqueued",
    "IdempotencyConflict",
    "QueueError",
    "QueueFull",
    "QueuePosition",
    "RateLimited",
    "Redis",
    "TaskExists",
    "TaskFinished",
    "TaskNotFound",
    "TaskRecord",
    "cancel",
    "claim",
    "connect",
    "enqueue",
    "extend_lease",
    "get_task",
    "list_user_tasks",
    "queue_position",
    "queue_sizes",
    "reclaim_expired",
    "release",
]
