"""The sweeper's outcome for a task whose resource vanished with nobody recording it.

A requested cancel makes it a cancellation (as the operator would record a
deletion); anything else is "Lost": a final failure, recorded through the one
final-failure path, so the task can be retried from the dead-letter queue on
purpose.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from devskyy_agents.clock import utc_iso
from devskyy_operator.crd.conditions import REASON_CANCELLED
from devskyy_operator.deadletter.final_failure import record_final_failure
from devskyy_operator.deadletter.record import FinalFailure
from devskyy_operator.metrics import TASKS_TOTAL
from devskyy_operator.redisq import task_store
from devskyy_operator.redisq.scripts import Redis
from devskyy_operator.settings import Settings

log = logging.getLogger("devskyy.bridge")

REASON_LOST = "Lost"
LOST_ERROR = "the task's DevSkyyTask resource disappeared before an outcome was recorded"
# The task hash fields `lost_task` reads (the sweeper fetches them).
RECORD_FIELDS = ("data", "user_id", "attempts", "worker_host")


def _data(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _attempts(raw: str | None) -> int:
    try:
        return max(0, int(raw or 0))
    except ValueError:
        return 0


def lost_task(
    task_id: str, task_type: str, record: Mapping[str, str | None], namespace: str, now: datetime
) -> FinalFailure:
    """The facts of a bridged task whose resource is gone, from its task hash."""
    return FinalFailure(
        task_id=task_id, task_type=task_type, user_id=str(record.get("user_id") or ""),
        namespace=namespace, task_data=_data(record.get("data")), reason=REASON_LOST,
        error=LOST_ERROR, error_type=REASON_LOST, failed_at=now,
        attempts=_attempts(record.get("attempts")),
        worker_host=str(record.get("worker_host") or ""),
    )  # fmt: skip


async def record_lost(
    redis: Redis, task_id: str, task_type: str, record: Mapping[str, str | None], settings: Settings
) -> None:
    now = datetime.now(UTC)
    if record.get("cancel_requested") == "1":
        log.info("task %s: resource gone after a cancel request; recorded as cancelled", task_id)
        written = await task_store.mark_failed(
            redis, task_id, "", error_type=REASON_CANCELLED, completed_at=utc_iso(now),
            reason=REASON_CANCELLED, cancelled=True,
            record_ttl_seconds=settings.task_record_ttl_seconds,
            throughput_window_seconds=settings.throughput_window_seconds,
        )  # fmt: skip
        if written is task_store.WriteOutcome.OK:
            TASKS_TOTAL.labels(task_type, "cancelled").inc()
        return
    log.error("task %s: resource gone with no outcome recorded; failed as %s", task_id, REASON_LOST)
    failure = lost_task(task_id, task_type, record, settings.namespace, now)
    await record_final_failure(redis, failure, settings)
