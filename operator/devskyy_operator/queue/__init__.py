"""The Redis side of the data path: enqueue, claim/lease, cancel, stats, dead letters
and the operator's task-hash writer. All multi-key changes are single Lua scripts
(`lua.py`); clients are redis.asyncio with ``decode_responses=True`` (`connect`)."""

from devskyy_operator.queue.cancel import CancelOutcome, cancel
from devskyy_operator.queue.claim import (
    ClaimedTask,
    claim,
    extend_lease,
    reclaim_expired,
    release,
)
from devskyy_operator.queue.dead_letter import (
    DeadLetter,
    get_dead_letter,
    list_dead_letters,
    retry_dead_letter,
)
from devskyy_operator.queue.enqueue import Enqueued, EnqueueLimits, enqueue
from devskyy_operator.queue.errors import (
    DeadLetterChanged,
    IdempotencyConflict,
    QueueError,
    QueueFull,
    RateLimited,
    TaskExists,
    TaskFinished,
    TaskNotFound,
)
from devskyy_operator.queue.records import TaskRecord, get_task, list_user_tasks
from devskyy_operator.queue.scripts import Redis, connect
from devskyy_operator.queue.stats import QueuePosition, queue_position, queue_sizes

__all__ = [
    "CancelOutcome",
    "ClaimedTask",
    "DeadLetter",
    "DeadLetterChanged",
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
    "get_dead_letter",
    "get_task",
    "list_dead_letters",
    "list_user_tasks",
    "queue_position",
    "queue_sizes",
    "reclaim_expired",
    "release",
    "retry_dead_letter",
]
