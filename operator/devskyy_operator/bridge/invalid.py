"""The one outcome the bridge records at creation: a spec the CRD rejects (422).

No retry can make the API server accept it, and without a resource the operator
never hears of the task, so the bridge ends it through the one final-failure
path, with the same reason and error type as a spec the operator's models refuse.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from devskyy_operator.crd.conditions import REASON_INVALID_SPEC
from devskyy_operator.deadletter.final_failure import record_final_failure
from devskyy_operator.deadletter.record import ERROR_TYPE_INVALID_INPUT, FinalFailure
from devskyy_operator.redisq.claim import ClaimedTask
from devskyy_operator.redisq.scripts import Redis
from devskyy_operator.settings import Settings


def _task_data(task: ClaimedTask) -> dict[str, Any]:
    try:
        spec = json.loads(task.spec_json)
    except ValueError:
        return {}
    data = spec.get("input") if isinstance(spec, dict) else None
    return data if isinstance(data, dict) else {}


def refused_by_crd(
    task: ClaimedTask, message: str, namespace: str, worker_host: str, now: datetime
) -> FinalFailure:
    """The facts of a claimed task whose resource the API server refused."""
    return FinalFailure(
        task_id=task.task_id, task_type=task.task_type, user_id=task.user_id,
        namespace=namespace, task_data=_task_data(task), reason=REASON_INVALID_SPEC,
        error=f"rejected by the API server: {message}", error_type=ERROR_TYPE_INVALID_INPUT,
        failed_at=now, attempts=0, worker_host=worker_host,
    )  # fmt: skip


async def record_invalid(
    redis: Redis, task: ClaimedTask, message: str, settings: Settings, worker_host: str
) -> None:
    failure = refused_by_crd(task, message, settings.namespace, worker_host, datetime.now(UTC))
    await record_final_failure(redis, failure, settings)
