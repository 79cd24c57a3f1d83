"""The sweeper's outcome for a task whose resource vanished with nobody recording it.

A requested cancel makes it a cancellation (as the operator would record a
deletion); anything else is "Lost": failed, with a DLQ record so that the
task can be retried from the dead-letter queue on purpose.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from devskyy_agents.clock import epoch_iso
from devskyy_operator.deadletter.record import DeadLetterRecord, write_dead_letter
from devskyy_operator.metrics import DEAD_LETTERS_TOTAL
from devskyy_operator.redisq import task_store
from devskyy_operator.redisq.scripts import Redis
from devskyy_operator.settings import Settings

log = logging.getLogger("devskyy.bridge")

REASON_LOST = "Lost"
REASON_CANCELLED = "Cancelled"
LOST_ERROR = "the task's DevSkyyTask resource disappeared before an outcome was recorded"


def _data(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def record_lost(
    redis: Redis, task_id: str, task_type: str, record: Mapping[str, str | None], settings: Settings
) -> None:
    now = time.time()
    stamp = epoch_iso(now)
    ttl, window = settings.task_record_ttl_seconds, settings.throughput_window_seconds
    if record.get("cancel_requested") == "1":
        log.info("task %s: resource gone after a cancel request; recorded as cancelled", task_id)
        await task_store.mark_failed(
            redis, task_id, "", error_type=REASON_CANCELLED, completed_at=stamp,
            reason=REASON_CANCELLED, cancelled=True, record_ttl_seconds=ttl,
            throughput_window_seconds=window,
        )  # fmt: skip
        return
    log.error("task %s: resource gone with no outcome recorded; failed as %s", task_id, REASON_LOST)
    dead = DeadLetterRecord(
        task_id=task_id, task_data=_data(record.get("data")), error=LOST_ERROR,
        error_type=REASON_LOST, failed_at=stamp, worker_host="", attempts=0,
        reason=REASON_LOST, exit_code=None, termination_message=None, task_type=task_type,
        user_id=str(record.get("user_id") or ""), namespace=settings.namespace,
    )  # fmt: skip
    if await write_dead_letter(redis, dead, now, settings.dlq_ttl_seconds):
        DEAD_LETTERS_TOTAL.labels(task_type, REASON_LOST).inc()
    await task_store.mark_failed(
        redis, task_id, LOST_ERROR, error_type=REASON_LOST, completed_at=stamp,
        reason=REASON_LOST, record_ttl_seconds=ttl, throughput_window_seconds=window,
    )  # fmt: skip
