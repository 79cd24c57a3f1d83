"""One create of a DevSkyyTask and what its answer means for the lease.

| answer                      | outcome     | the lease                          |
|-----------------------------|-------------|------------------------------------|
| 201                         | CREATED     | released                           |
| 409, same task              | SAME        | released (an earlier try made it)  |
| 409, another resource       | FOREIGN     | kept; logged loudly                |
| 422 (the CRD rejects it)    | INVALID     | released, task failed + DLQ        |
| 5xx, 429, connection errors | UNAVAILABLE | kept; retried, else it expires     |
| other 4xx                   | UNAVAILABLE | kept; logged (RBAC, quota, ...)    |
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from devskyy_operator.bridge.manifest import build_task_resource, same_task
from devskyy_operator.kube.client import TRANSPORT_ERRORS, KubeClient
from devskyy_operator.kube.errors import ApiError, Conflict, Invalid, ServerError, TooManyRequests
from devskyy_operator.redisq.claim import ClaimedTask

log = logging.getLogger("devskyy.bridge")


class Outcome(StrEnum):
    CREATED = "created"
    SAME = "same"
    FOREIGN = "foreign"
    INVALID = "invalid"
    UNAVAILABLE = "unavailable"

    @property
    def releases(self) -> bool:
        return self in (Outcome.CREATED, Outcome.SAME, Outcome.INVALID)


@dataclass(frozen=True)
class CreateResult:
    task: ClaimedTask
    outcome: Outcome
    resource: dict[str, Any] | None = None  # the object as the API returned it
    message: str = ""


async def create_task(kube: KubeClient, path: str, task: ClaimedTask) -> CreateResult:
    """POST the CR named by the task id; never raises for API or transport errors."""
    try:
        created = await kube.create(path, build_task_resource(task))
        return CreateResult(task, Outcome.CREATED, created)
    except Conflict:
        return await _conflict(kube, path, task)
    except Invalid as exc:
        return CreateResult(task, Outcome.INVALID, message=exc.message or str(exc))
    except ApiError as exc:
        if not isinstance(exc, ServerError | TooManyRequests):
            log.error("create of task %s refused: %s; lease kept", task.task_id, exc)
        return CreateResult(task, Outcome.UNAVAILABLE, message=str(exc))
    except TRANSPORT_ERRORS as exc:
        return CreateResult(task, Outcome.UNAVAILABLE, message=f"{type(exc).__name__}: {exc}")


async def _conflict(kube: KubeClient, path: str, task: ClaimedTask) -> CreateResult:
    try:
        existing = await kube.get(f"{path}/{task.task_id}")
    except ApiError as exc:
        # Gone again between the POST and the GET (deleted): decide next time.
        return CreateResult(task, Outcome.UNAVAILABLE, message=str(exc))
    except TRANSPORT_ERRORS as exc:
        return CreateResult(task, Outcome.UNAVAILABLE, message=f"{type(exc).__name__}: {exc}")
    if same_task(existing, task):
        return CreateResult(task, Outcome.SAME, existing)
    log.error(
        "task %s: a different DevSkyyTask already holds this name; the lease is kept and "
        "the task stays claimed until an operator resolves it",
        task.task_id,
    )
    return CreateResult(task, Outcome.FOREIGN, existing)
