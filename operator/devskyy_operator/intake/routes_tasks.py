"""/v1/tasks: enqueue, read and cancel. Reads come from Redis, which the operator
keeps in step (also for tasks created with kubectl); a task Redis has forgotten
is read from the history store. The list and the history: `routes_history`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from devskyy_agents.models import TASK_ID_PATTERN, TaskSpec
from devskyy_operator.history import store as history_store
from devskyy_operator.intake.body import (
    IDEMPOTENCY_KEY_PATTERN,
    parse_task_spec,
    read_limited,
    require_json,
)
from devskyy_operator.intake.deps import Caller, RateLimitedCaller, ServicesDep
from devskyy_operator.intake.errors import ApiError, responses
from devskyy_operator.intake.schemas import (
    CancelResult,
    QueueInfo,
    TaskAccepted,
    TaskView,
)
from devskyy_operator.intake.tiered import place_in_tier
from devskyy_operator.intake.views import history_task, view_of
from devskyy_operator.redisq import (
    TaskRecord,
    cancel,
    enqueue,
    get_task,
    queue_position,
)
from devskyy_operator.redisq.ids import is_task_id

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])

TaskIdPath = Annotated[str, Path(max_length=253, description="Task id.")]


def task_spec_body() -> dict[str, object]:
    """OpenAPI request body: the TaskSpec schema (registered in `app.custom_openapi`)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskSpec"}}},
        }
    }


def location_of(task_id: str) -> str:
    return f"/v1/tasks/{task_id}"


@router.post(
    "",
    status_code=202,
    response_model=TaskAccepted,
    openapi_extra=task_spec_body(),
    responses=responses(401, 403, 409, 413, 415, 422, 429, 503),
    summary="Queue a task",
)
async def create_task(
    request: Request,
    principal: Caller,
    svc: ServicesDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="Retrying with the same key returns the same task.",
        ),
    ] = None,
    task_id: Annotated[
        str | None,
        Query(pattern=TASK_ID_PATTERN, description="Choose the task id yourself."),
    ] = None,
) -> JSONResponse:
    require_json(request)
    body = await read_limited(request, svc.settings.max_body_bytes)
    spec: TaskSpec = parse_task_spec(body, svc.settings, datetime.now(UTC))
    request.state.task_type = spec.type.value
    if not principal.may_act_for(spec.user_id):
        raise ApiError(403, "input.user_id must be the authenticated user")
    placed = place_in_tier(spec, svc.settings)
    done = await enqueue(
        svc.batcher,
        placed.spec,
        task_id=task_id,
        idempotency_key=idempotency_key,
        limits=svc.limits_for(spec.user_id),
        extra_fields=placed.hash_fields(),
    )
    request.state.task_id = done.task_id
    request.state.decision = "accepted" if done.created else "replayed"
    location = location_of(done.task_id)
    headers = {"Location": location}
    if not done.created:
        headers["Idempotent-Replayed"] = "true"
    # The hot path: answer with the documented TaskAccepted shape directly instead
    # of FastAPI validating and serialising a response model per request.
    accepted = {"id": done.task_id, "status": "pending", "location": location}
    return JSONResponse(accepted, status_code=202, headers=headers)


async def _owned_task(
    svc: ServicesDep, principal: Caller, task_id: str, *, to_act: bool = False
) -> TaskRecord:
    """The task if the caller may see it (`to_act`: act on it); another user's task
    is reported as absent."""
    record = await get_task(svc.redis, task_id) if is_task_id(task_id) else None
    allowed = principal.may_act_for if to_act else principal.may_read
    if record is None or not allowed(record.user_id):
        raise ApiError(404, f"task {task_id} not found")
    return record


async def _remembered_task(svc: ServicesDep, principal: Caller, task_id: str) -> TaskView:
    """A task Redis has forgotten (its record expired), from the history store."""
    absent = ApiError(404, f"task {task_id} not found")
    if svc.history is None or not is_task_id(task_id):
        raise absent
    async with svc.history.connection() as conn:
        row = await history_store.get_task(conn, task_id)
    if row is None or not principal.may_read(row["user_id"]):
        raise absent
    return history_task(row)


@router.get(
    "/{task_id}",
    response_model=TaskView,
    responses=responses(401, 404, 429, 503),
    summary="Status, result or error of a task; queue position while queued",
)
async def read_task(
    request: Request, principal: RateLimitedCaller, svc: ServicesDep, task_id: TaskIdPath
) -> TaskView:
    request.state.task_id = task_id
    record = await get_task(svc.redis, task_id) if is_task_id(task_id) else None
    if record is None:
        return await _remembered_task(svc, principal, task_id)
    if not principal.may_read(record.user_id):
        raise ApiError(404, f"task {task_id} not found")
    request.state.task_type = record.task_type
    queue = None
    if record.status == "pending":
        position = await queue_position(
            svc.redis,
            record.task_type,
            task_id,
            window_seconds=svc.settings.throughput_window_seconds,
            region=record.raw.get("region") or None,
        )
        if position is not None:
            queue = QueueInfo(
                position=position.position,
                queued=position.queued,
                estimated_wait_seconds=position.estimated_wait_seconds,
            )
    return view_of(record, queue)


@router.delete(
    "/{task_id}",
    status_code=202,
    response_model=CancelResult,
    responses=responses(401, 404, 409, 429, 503),
    summary="Cancel a queued task, or request cancellation of a running one",
)
async def cancel_task(
    request: Request, principal: RateLimitedCaller, svc: ServicesDep, task_id: TaskIdPath
) -> CancelResult:
    request.state.task_id = task_id
    record = await _owned_task(svc, principal, task_id, to_act=True)
    request.state.task_type = record.task_type
    outcome = await cancel(
        svc.redis, task_id, record_ttl_seconds=svc.settings.task_record_ttl_seconds
    )
    request.state.decision = f"cancel {outcome.value}"
    return CancelResult(id=task_id, outcome=outcome.value)
