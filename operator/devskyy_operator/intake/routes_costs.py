"""GET /v1/costs: finished tasks' costs summed per user or per task type.

Read from the cost index in Redis (one member per finished task, kept
Settings.cost.index_retention_seconds). A user sees their own costs only
(group_by=user then has one group, theirs); operator and admin tokens see
everyone's, or one user's with `user_id`. Amounts are decimal strings with six
places, summed from integer micro-units (cost/money.py), so they add up exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from devskyy_agents.clock import utc_iso
from devskyy_operator.cost.money import format_micros
from devskyy_operator.cost.sums import GroupBy, sum_costs
from devskyy_operator.intake.deps import RateLimitedCaller, ServicesDep
from devskyy_operator.intake.errors import ApiError, responses
from devskyy_operator.intake.schemas import CostGroupView, CostSummary, FieldError
from devskyy_operator.redisq.costs import cost_entries

router = APIRouter(prefix="/v1/costs", tags=["costs"])


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@router.get(
    "",
    response_model=CostSummary,
    responses=responses(401, 403, 422, 429, 503),
    summary="Costs of finished tasks per user or per type",
)
async def costs(
    principal: RateLimitedCaller,
    svc: ServicesDep,
    since: Annotated[
        datetime | None,
        Query(description="ISO 8601 (UTC if naive); default: as far back as the index keeps."),
    ] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601; default: now.")] = None,
    group_by: Annotated[GroupBy, Query(description="user or type.")] = "type",
    user_id: Annotated[
        str | None, Query(max_length=128, description="Operator/admin tokens: one user only.")
    ] = None,
) -> CostSummary:
    if user_id is not None and not principal.may_read(user_id):
        raise ApiError(403, "you may read only your own costs")
    scope = user_id if user_id is not None else (None if principal.sees_all else principal.user_id)
    now = datetime.now(UTC)
    retention = timedelta(seconds=svc.settings.cost.index_retention_seconds)
    start = _utc(since) if since is not None else now - retention
    end = _utc(until) if until is not None else now
    if end < start:
        message = "must not be before since"
        raise ApiError(
            422, "invalid request", errors=[FieldError(field="query.until", message=message)]
        )
    entries = await cost_entries(svc.redis, start.timestamp(), end.timestamp(), user_id=scope)
    groups = sum_costs(entries, group_by)
    return CostSummary(
        currency=svc.settings.cost.currency,
        since=utc_iso(start),
        until=utc_iso(end),
        group_by=group_by,
        total=format_micros(sum(g.micros for g in groups)),
        tasks=sum(g.tasks for g in groups),
        groups=[
            CostGroupView(key=g.key, total=format_micros(g.micros), tasks=g.tasks) for g in groups
        ],
    )
