"""/v1/tasks: enqueue, read, list and cancel. Reads come from Redis only: the
operator keeps each task hash in step, also for tasks created with kubectl."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from devskyy_agents.models import TASK_ID_PATTERN, TaskSpec
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
    TaskList,
    TaskStatus,
    TaskView,
)
from devskyy_operator.redisq import (
    TaskRecord,
    cancel,
    enqueue,
    get_task,
    list_user_tasks,
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
    done = await enqueue(
        svc.batcher, spec, task_id=task_id, idempotency_key=idempotency_key, limits=svc.limits
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


def view_of(record: TaskRecord, queue: QueueInfo | None = None) -> TaskView:
    return TaskView(
        id=record.task_id,
        type=record.task_type,
        status=record.status,
        user_id=record.user_id,
        priority=record.priority,
        created_at=record.created_at,
        started_at=record.started_at,
        completed_at=record.completed_at,
        worker_host=record.worker_host,
        attempts=record.attempts,
        result=record.result,
        error=record.error,
        cancelled=record.cancelled,
        cancel_requested=record.cancel_requested,
        queue=queue,
    )


async def _owned_task(svc: ServicesDep, principal: Caller, task_id: str) -> TaskRecord:
    """The task if the caller may see it; another user's task is reported as absent."""
    record = await get_task(svc.redis, task_id) if is_task_id(task_id) else None
    if record is None or not principal.may_act_for(record.user_id):
        raise ApiError(404, f"task {task_id} not found")
    return record


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
    record = await _owned_task(svc, principal, task_id)
    request.state.task_type = record.task_type
    queue = None
    if record.status == "pending":
        position = await queue_position(
            svc.redis,
            record.task_type,
            task_id,
            window_seconds=svc.settings.throughput_window_seconds,
        )
        if position is not None:
            queue = QueueInfo(
                position=position.position,
                queued=position.queued,
                estimated_wait_seconds=position.estimated_wait_seconds,
            )
    return view_of(record, queue)


@router.get(
    "",
    response_model=TaskList,
    responses=responses(401, 403, 429, 503),
    summary="A user's tasks, newest first",
)
async def list_tasks(
    principal: RateLimitedCaller,
    svc: ServicesDep,
    user_id: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[TaskStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> TaskList:
    user = user_id or principal.user_id
    if not principal.may_act_for(user):
        raise ApiError(403, "you may list only your own tasks")
    records = await list_user_tasks(svc.redis, user, status=status, limit=limit)
    return TaskList(tasks=[view_of(r) for r in records])


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
    record = await _owned_task(svc, principal, task_id)
    request.state.task_type = record.task_type
    outcome = await cancel(
        svc.redis, task_id, record_ttl_seconds=svc.settings.task_record_ttl_seconds
    )
    request.state.decision = f"cancel {outcome.value}"
    return CancelResult(id=task_id, outcome=outcome.value)
