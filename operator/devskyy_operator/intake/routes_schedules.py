"""/v1/schedules: DevSkyySchedules through the API, without Kubernetes credentials.

The API validates and stores the desired schedule in Redis (`redisq.schedules`);
the bridge applies it as the CR and mirrors the CR's status back, which is what
`status` shows. A schedule belongs to the user of its template (runs are that
user's tasks): users see and change their own, admins all, operators read all.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse

from devskyy_agents.clock import utc_iso
from devskyy_operator import keys
from devskyy_operator.crd.schedule import SCHEDULE_NAME_PATTERN, ScheduleSpec
from devskyy_operator.intake.body import JSON_MEDIA_TYPE, read_limited, require_json
from devskyy_operator.intake.deps import RateLimitedCaller, ServicesDep
from devskyy_operator.intake.errors import ApiError, responses
from devskyy_operator.intake.schedule_body import (
    parse_new_schedule,
    parse_patched_spec,
    stored_spec,
)
from devskyy_operator.intake.schemas import ScheduleList, ScheduleView
from devskyy_operator.redisq.schedules import (
    StoredSchedule,
    all_schedules,
    create_schedule,
    delete_schedule,
    get_schedule,
    observed_status,
    replace_schedule,
)

router = APIRouter(prefix="/v1/schedules", tags=["schedules"])

MERGE_PATCH_MEDIA_TYPE = "application/merge-patch+json"
NamePath = Annotated[str, Path(max_length=253, description="Schedule name.")]


def location_of(name: str) -> str:
    return f"/v1/schedules/{name}"


async def _views(svc: ServicesDep, stored: list[StoredSchedule]) -> list[dict[str, Any]]:
    names = [s.name for s in stored]
    statuses = await observed_status(svc.redis, names)
    pending = await svc.redis.hmget(keys.SCHEDULE_CHANGES, names) if names else []
    return [
        ScheduleView(
            name=s.name,
            user_id=s.user_id,
            created_at=s.created_at,
            spec=s.spec,
            applied=revision is None,
            status=statuses.get(s.name),
        ).model_dump()
        for s, revision in zip(stored, pending, strict=True)
    ]


async def _owned(
    svc: ServicesDep, principal: RateLimitedCaller, name: str, *, to_act: bool
) -> StoredSchedule:
    """The schedule if the caller may see it (`to_act`: change it); another user's
    schedule is reported as absent."""
    found = await get_schedule(svc.redis, name) if re.match(SCHEDULE_NAME_PATTERN, name) else None
    allowed = principal.may_act_for if to_act else principal.may_read
    if found is None or not allowed(found.user_id):
        raise ApiError(404, f"schedule {name} not found")
    return found


def _check_owner(principal: RateLimitedCaller, spec: ScheduleSpec) -> str:
    user_id = spec.template.spec.user_id
    if not principal.may_act_for(user_id):
        raise ApiError(403, "spec.template.spec.input.user_id must be the authenticated user")
    return user_id


@router.post(
    "",
    status_code=201,
    response_model=ScheduleView,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {JSON_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/NewSchedule"}}},
        }
    },
    responses=responses(401, 403, 409, 413, 415, 422, 429, 503),
    summary="Create a schedule (a DevSkyySchedule the bridge applies)",
)
async def create(request: Request, principal: RateLimitedCaller, svc: ServicesDep) -> JSONResponse:
    require_json(request)
    body = await read_limited(request, svc.settings.max_body_bytes)
    now = datetime.now(UTC)
    new = parse_new_schedule(body, svc.settings, now)
    user_id = _check_owner(principal, new.spec)
    stored = await create_schedule(
        svc.redis,
        new.name,
        user_id,
        stored_spec(new.spec),
        utc_iso(now),
        cap=svc.settings.max_schedules_per_user,
    )
    request.state.decision = "schedule created"
    [view] = await _views(svc, [stored])
    return JSONResponse(view, status_code=201, headers={"Location": location_of(new.name)})


@router.get(
    "",
    response_model=ScheduleList,
    responses=responses(401, 429, 503),
    summary="Your schedules (every user's for admins and operators)",
)
async def list_schedules(principal: RateLimitedCaller, svc: ServicesDep) -> JSONResponse:
    visible = [s for s in await all_schedules(svc.redis) if principal.may_read(s.user_id)]
    return JSONResponse({"schedules": await _views(svc, visible)})


@router.get(
    "/{name}",
    response_model=ScheduleView,
    responses=responses(401, 404, 429, 503),
    summary="A schedule's spec and its CR's status (last and next run, active runs)",
)
async def read_schedule(principal: RateLimitedCaller, svc: ServicesDep, name: NamePath) -> Any:
    found = await _owned(svc, principal, name, to_act=False)
    [view] = await _views(svc, [found])
    return JSONResponse(view)


@router.patch(
    "/{name}",
    response_model=ScheduleView,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": 'A JSON merge patch of the spec, e.g. {"suspend": true}.',
            "content": {MERGE_PATCH_MEDIA_TYPE: {"schema": {"type": "object"}}},
        }
    },
    responses=responses(401, 403, 404, 409, 413, 415, 422, 429, 503),
    summary="Change a schedule: a JSON merge patch of its spec (suspend, schedule, ...)",
)
async def patch_schedule(
    request: Request, principal: RateLimitedCaller, svc: ServicesDep, name: NamePath
) -> Any:
    declared = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if declared != MERGE_PATCH_MEDIA_TYPE:
        require_json(request)
    body = await read_limited(request, svc.settings.max_body_bytes)
    found = await _owned(svc, principal, name, to_act=True)
    spec = parse_patched_spec(found.spec, body, svc.settings, datetime.now(UTC))
    user_id = _check_owner(principal, spec)
    stored = await replace_schedule(
        svc.redis, found, user_id, stored_spec(spec), cap=svc.settings.max_schedules_per_user
    )
    request.state.decision = "schedule changed"
    [view] = await _views(svc, [stored])
    return JSONResponse(view)


@router.delete(
    "/{name}",
    status_code=204,
    responses=responses(401, 404, 409, 429, 503),
    summary="Delete a schedule; the bridge deletes its CR (its runs go with it)",
)
async def remove_schedule(
    request: Request, principal: RateLimitedCaller, svc: ServicesDep, name: NamePath
) -> Response:
    found = await _owned(svc, principal, name, to_act=True)
    await delete_schedule(svc.redis, found)
    request.state.decision = "schedule deleted"
    return Response(status_code=204)
