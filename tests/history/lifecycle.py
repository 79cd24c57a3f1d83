"""Drive tasks through their transitions with the same redisq/deadletter calls the
operator, the bridge and the API make (real Redis, real scripts)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from devskyy_agents.clock import utc_iso
from devskyy_agents.models import TaskSpec, parse_spec
from devskyy_operator.deadletter.final_failure import record_final_failure
from devskyy_operator.deadletter.record import FinalFailure
from devskyy_operator.redisq import Redis, cancel, enqueue, task_store
from devskyy_operator.settings import Settings

SETTINGS = Settings()
LIFETIMES: dict[str, Any] = {
    "record_ttl_seconds": SETTINGS.task_record_ttl_seconds,
    "throughput_window_seconds": SETTINGS.throughput_window_seconds,
}
RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1"}}
_ids = itertools.count(1)


INPUTS: dict[str, dict[str, Any]] = {
    "diagnostic": {},
    "ml_prediction": {"model_id": "sentiment_analyzer", "input_data": {"text": "lovely"}},
}


def spec(user: str = "alice", task_type: str = "diagnostic", priority: int = 100) -> TaskSpec:
    task_input = {"user_id": user, **INPUTS[task_type]}
    return parse_spec({"type": task_type, "priority": priority, "input": task_input})


async def queued(redis: Redis, user: str = "alice", **kwargs: Any) -> str:
    return (await enqueue(redis, spec(user, **kwargs))).task_id


async def succeed(redis: Redis, task_id: str, result: dict[str, Any] | None = None) -> None:
    await task_store.mark_admitted(redis, task_id, utc_iso(), RESOURCES)
    await task_store.mark_processing(redis, task_id, "2026-01-05T12:00:00.000000Z", "node-a", 1)
    await task_store.mark_completed(
        redis, task_id, f'{{"status":"success","n":{next(_ids)}}}', "2026-01-05T12:00:09.500000Z",
        **LIFETIMES,
    )  # fmt: skip


async def fail_after_retry(redis: Redis, task_id: str, user: str = "alice") -> None:
    """Two attempts (the first exits 75), then a final failure with its dead letter."""
    await task_store.mark_admitted(redis, task_id, utc_iso(), RESOURCES)
    await task_store.mark_processing(redis, task_id, "2026-01-05T12:00:00.000000Z", "node-a", 1)
    await task_store.mark_processing(
        redis, task_id, "2026-01-05T12:00:00.000000Z", "node-a", 2, failed_attempts=1,
        last_error="connection reset", last_exit_code=75,
    )  # fmt: skip
    failure = FinalFailure(
        task_id=task_id, task_type="diagnostic", user_id=user, namespace="default",
        task_data={"user_id": user}, reason="BackoffLimitExceeded", error="upstream 503",
        error_type="ProviderError", failed_at=datetime(2026, 1, 5, 12, 1, tzinfo=UTC),
        attempts=2, exit_code=75, worker_host="node-a",
    )  # fmt: skip
    assert await record_final_failure(redis, failure, SETTINGS)


async def cancelled(redis: Redis, task_id: str) -> None:
    await cancel(redis, task_id, record_ttl_seconds=SETTINGS.task_record_ttl_seconds)
