"""A dead-letter record as the operator writes it, seeded straight into Redis."""

from __future__ import annotations

import json

import redis

from devskyy_operator import keys
from tests.support.lifetimes import DEFAULTS


def seed_dead_letter(
    client: redis.Redis, task_id: str, user: str, failed: float, log_tail: str = ""
) -> None:
    """A diagnostic task that failed for good after 3 attempts, in the DLQ and its index."""
    record = {
        "log_pod": f"{task_id}-x7k2p" if log_tail else "",
        "log_tail": log_tail,
        "task_id": task_id,
        "task_data": {"user_id": user},
        "error": "exit code 3",
        "error_type": "RetryableError",
        "failed_at": "2026-01-05T12:00:00Z",
        "worker_host": "node-1",
        "attempts": 3,
        "reason": "BackoffLimitExceeded",
        "exit_code": 3,
        "termination_message": "",
        "task_type": "diagnostic",
        "user_id": user,
    }
    client.set(keys.dlq_key(task_id), json.dumps(record), ex=DEFAULTS.dlq_ttl_seconds)
    client.zadd(keys.DLQ_INDEX, {task_id: failed})
