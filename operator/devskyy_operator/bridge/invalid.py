"""The one outcome the bridge writes itself: a spec the CRD rejects (422).

No retry can make the API server accept it, and without a resource the operator
never hears of the task, so the bridge records the final failure the way the
operator would: the DLQ record (SET NX) first, then the hash (forward-only), so
a crash in between replays to the same result.
"""

from __future__ import annotations

import json
import time
from typing import Any

from devskyy_agents.clock import epoch_iso
from devskyy_operator.deadletter.record import DeadLetterRecord, write_dead_letter
from devskyy_operator.metrics import DEAD_LETTERS_TOTAL
from devskyy_operator.redisq import task_store
from devskyy_operator.redisq.claim import ClaimedTask
from devskyy_operator.redisq.scripts import Redis
from devskyy_operator.settings import Settings

REASON_INVALID_SPEC = "InvalidSpec"


def _task_data(task: ClaimedTask) -> dict[str, Any]:
    try:
        spec = json.loads(task.spec_json)
    except ValueError:
        return {}
    data = spec.get("input") if isinstance(spec, dict) else None
    return data if isinstance(data, dict) else {}


async def record_invalid(
    redis: Redis, task: ClaimedTask, message: str, settings: Settings, worker_host: str
) -> None:
    now = time.time()
    failed_at = epoch_iso(now)
    error = f"rejected by the API server: {message}"[:1024]
    record = DeadLetterRecord(
        task_id=task.task_id, task_data=_task_data(task), error=error,
        error_type=REASON_INVALID_SPEC, failed_at=failed_at, worker_host=worker_host,
        attempts=0, reason=REASON_INVALID_SPEC, exit_code=None, termination_message=None,
        task_type=task.task_type, user_id=task.user_id, namespace=settings.namespace,
    )  # fmt: skip
    if await write_dead_letter(redis, record, now, settings.dlq_ttl_seconds):
        DEAD_LETTERS_TOTAL.labels(task.task_type, REASON_INVALID_SPEC).inc()
    await task_store.mark_failed(
        redis, task.task_id, error, error_type=REASON_INVALID_SPEC, completed_at=failed_at,
        reason=REASON_INVALID_SPEC, attempts=0,
        record_ttl_seconds=settings.task_record_ttl_seconds,
        throughput_window_seconds=settings.throughput_window_seconds,
    )  # fmt: skip
