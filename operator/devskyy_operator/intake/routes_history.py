"""GET /v1/tasks (the task list) and GET /v1/tasks/{id}/history, from the history
store in PostgreSQL: every task ever run, newest first with a keyset cursor.

A user sees their own tasks only; operator and admin tokens see everyone's.
Another user's task is reported as absent (404), never as forbidden. Without a
history store (no DATABASE_URL) the list falls back to what Redis still holds of
the caller's tasks, one page, without date filters or cursor.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from devskyy_agents.models import TaskType
from devskyy_operator.history import store
from devskyy_operator.history.cursor import Cursor, InvalidCursor
from devskyy_operator.intake.deps import RateLimitedCaller, Services, ServicesDep
from devskyy_operator.intake.errors import ApiError, responses
from devskyy_operator.intake.routes_tasks import TaskIdPath
from devskyy_operator.intake.schemas import (
    FieldError,
    HistoryTask,
    TaskHistory,
    TaskPage,
    TaskStatus,
)
from devskyy_operator.intake.views import event_view, history_task, view_of
from devskyy_operator.redisq import get_task, list_user_tasks
from devskyy_operator.redisq.ids import is_task_id

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _cursor(text: str | None) -> Cursor | None:
    if text is None:
        return None
    try:
        return Cursor.decode(text)
    except InvalidCursor as exc:
        raise ApiError(
            422, "invalid request", errors=[FieldError(field="query.cursor", message=str(exc))]
        ) from None


@router.get(
    "",
    response_model=TaskPage,
    responses=responses(401, 403, 422, 429, 503),
    summary="Tasks newest first, with filters and a keyset cursor",
)
async def list_tasks(
    principal: RateLimitedCaller,
    svc: ServicesDep,
    user_id: Annotated[
        str | None, Query(max_length=128, description="Operator/admin tokens: one user only.")
    ] = None,
    type: Annotated[TaskType | None, Query(description="Task type.")] = None,
    status: Annotated[TaskStatus | None, Query()] = None,
    created_after: Annotated[datetime | None, Query(description="ISO 8601; UTC if naive.")] = None,
    created_before: Annotated[datetime | None, Query(description="ISO 8601; UTC if naive.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=1024, description="next_cursor of the previous page.")
    ] = None,
) -> TaskPage:
    if user_id is not None and not principal.may_read(user_id):
        raise ApiError(403, "you may list only your own tasks")
    scope = user_id if user_id is not None else (None if principal.sees_all else principal.user_id)
    if svc.history is None:
        unserved: dict[str, object] = {
            "created_after": created_after,
            "created_before": created_before,
            "cursor": cursor,
        }
        return await _recent_from_redis(
            svc, scope or principal.user_id, type, status, limit,
            [name for name, value in unserved.items() if value is not None],
        )  # fmt: skip
    query = store.TaskQuery(
        user_id=scope,
        task_type=type.value if type is not None else None,
        status=status,
        created_after=_utc(created_after),
        created_before=_utc(created_before),
        limit=limit,
        cursor=_cursor(cursor),
    )
    async with svc.history.connection() as conn:
        page = await store.list_tasks(conn, query)
    return TaskPage(tasks=[history_task(row) for row in page.tasks], next_cursor=page.next_cursor)


async def _recent_from_redis(
    svc: Services,
    user: str,
    task_type: TaskType | None,
    status: str | None,
    limit: int,
    unserved: list[str],
) -> TaskPage:
    if unserved:
        message = "needs the task history (DATABASE_URL), not configured here"
        errors = [FieldError(field=f"query.{name}", message=message) for name in unserved]
        raise ApiError(422, "invalid request", errors=errors)
    records = await list_user_tasks(svc.redis, user, status=status, limit=limit)
    tasks = [
        HistoryTask(**view_of(r).model_dump())
        for r in records
        if task_type is None or r.task_type == task_type.value
    ]
    return TaskPage(tasks=tasks, next_cursor=None)


@router.get(
    "/{task_id}/history",
    response_model=TaskHistory,
    responses=responses(401, 404, 429, 503),
    summary="Every transition of a task, in order",
)
async def task_history(
    request: Request, principal: RateLimitedCaller, svc: ServicesDep, task_id: TaskIdPath
) -> TaskHistory:
    request.state.task_id = task_id
    if svc.history is None:
        raise ApiError(503, "task history is not configured (DATABASE_URL)")
    absent = ApiError(404, f"task {task_id} not found")
    if not is_task_id(task_id):
        raise absent
    async with svc.history.connection() as conn:
        row = await store.get_task(conn, task_id)
        events = await store.task_events(conn, task_id) if row is not None else []
    if row is not None:
        if not principal.may_read(row["user_id"]):
            raise absent
        return TaskHistory(task=history_task(row), events=[event_view(e) for e in events])
    # Not written yet (the writer lags by a moment): the live record, no events.
    record = await get_task(svc.redis, task_id)
    if record is None or not principal.may_read(record.user_id):
        raise absent
    return TaskHistory(task=HistoryTask(**view_of(record).model_dump()), events=[])
