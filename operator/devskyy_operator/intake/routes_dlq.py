"""/v1/dlq: dead letters. Users see their own; admins see all."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from devskyy_operator.deadletter.record import DeadLetter
from devskyy_operator.deadletter.store import (
    get_dead_letter,
    list_dead_letters,
    retry_dead_letter,
)
from devskyy_operator.intake.deps import RateLimitedCaller, ServicesDep
from devskyy_operator.intake.errors import ApiError, responses
from devskyy_operator.intake.routes_tasks import location_of
from devskyy_operator.intake.schemas import DeadLetterList, DeadLetterView, TaskAccepted
from devskyy_operator.intake.tiered import placement
from devskyy_operator.redisq.ids import is_task_id

router = APIRouter(prefix="/v1/dlq", tags=["dead letters"])

TaskIdPath = Annotated[str, Path(max_length=253, description="Id of the failed task.")]


def view_of(letter: DeadLetter) -> DeadLetterView:
    return DeadLetterView(
        task_id=letter.task_id,
        task_type=letter.task_type,
        user_id=letter.user_id,
        error=letter.error,
        error_type=letter.error_type,
        failed_at=letter.failed_at,
        worker_host=letter.worker_host,
        attempts=letter.attempts,
        reason=letter.reason,
        exit_code=letter.exit_code,
        termination_message=letter.termination_message,
        task_data=letter.task_data,
        log_pod=letter.log_pod,
        log_tail=letter.log_tail,
    )


@router.get(
    "",
    response_model=DeadLetterList,
    responses=responses(401, 429, 503),
    summary="Dead letters, newest first",
)
async def list_dlq(
    principal: RateLimitedCaller,
    svc: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> DeadLetterList:
    owner = None if principal.admin else principal.user_id
    letters = await list_dead_letters(svc.redis, offset=offset, limit=limit, user_id=owner)
    return DeadLetterList(dead_letters=[view_of(letter) for letter in letters])


async def _owned_letter(svc: ServicesDep, principal: RateLimitedCaller, task_id: str) -> DeadLetter:
    letter = await get_dead_letter(svc.redis, task_id) if is_task_id(task_id) else None
    if letter is None or not principal.may_act_for(letter.user_id):
        raise ApiError(404, f"no dead letter for {task_id}")
    return letter


@router.get(
    "/{task_id}",
    response_model=DeadLetterView,
    responses=responses(401, 404, 429, 503),
    summary="One dead letter",
)
async def show_dlq(
    request: Request, principal: RateLimitedCaller, svc: ServicesDep, task_id: TaskIdPath
) -> DeadLetterView:
    request.state.task_id = task_id
    return view_of(await _owned_letter(svc, principal, task_id))


@router.post(
    "/{task_id}/retry",
    status_code=202,
    response_model=TaskAccepted,
    responses=responses(401, 404, 409, 422, 429, 503),
    summary="Queue a dead letter again under a new id '<id>-r<n>'",
)
async def retry_dlq(
    request: Request,
    response: Response,
    principal: RateLimitedCaller,
    svc: ServicesDep,
    task_id: TaskIdPath,
) -> TaskAccepted:
    request.state.task_id = task_id
    letter = await _owned_letter(svc, principal, task_id)
    request.state.task_type = letter.task_type
    done = await retry_dead_letter(svc.redis, task_id, place=placement(svc.settings))
    request.state.decision = f"retried as {done.task_id}"
    response.headers["Location"] = location_of(done.task_id)
    return TaskAccepted(id=done.task_id, status="pending", location=location_of(done.task_id))
