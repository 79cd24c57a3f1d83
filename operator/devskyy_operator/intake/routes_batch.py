"""POST /v1/tasks:batch: many tasks in one request, all queued or none.

Every item is validated (as POST /v1/tasks would) before any is written; then
one Lua script checks each item's id, Idempotency-Key, the per-user cap and the
rate limit and writes them all (`redisq.batch`). Refusals name the item.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from fastapi import APIRouter, Request

from devskyy_agents.models import TASK_ID_PATTERN
from devskyy_operator.intake.batch_body import parse_batch
from devskyy_operator.intake.body import IDEMPOTENCY_KEY_PATTERN, read_limited, require_json
from devskyy_operator.intake.deps import Caller, ServicesDep
from devskyy_operator.intake.errors import ApiError, responses
from devskyy_operator.intake.routes_tasks import location_of
from devskyy_operator.intake.schemas import BatchAccepted, BatchItemAccepted, FieldError
from devskyy_operator.intake.tiered import place_in_tier
from devskyy_operator.redisq.batch import enqueue_batch

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


def batch_body() -> dict[str, object]:
    """OpenAPI request body: a list of items, each a TaskSpec with its own options."""
    item = {
        "type": "object",
        "additionalProperties": False,
        "required": ["spec"],
        "properties": {
            "spec": {"$ref": "#/components/schemas/TaskSpec"},
            "task_id": {"type": "string", "pattern": TASK_ID_PATTERN},
            "idempotency_key": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
        },
    }
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["tasks"],
        "properties": {"tasks": {"type": "array", "minItems": 1, "items": item}},
    }
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@router.post(
    ":batch",
    status_code=202,
    response_model=BatchAccepted,
    openapi_extra=batch_body(),
    responses=responses(401, 403, 409, 413, 415, 422, 429, 503),
    summary="Queue many tasks at once: all or none",
)
async def create_tasks(request: Request, principal: Caller, svc: ServicesDep) -> BatchAccepted:
    require_json(request)
    body = await read_limited(request, svc.settings.max_batch_body_bytes)
    entries = parse_batch(body, svc.settings, datetime.now(UTC))
    foreign = [
        FieldError(field=f"tasks.{i}.spec.input.user_id", message="must be the authenticated user")
        for i, entry in enumerate(entries)
        if not principal.may_act_for(entry.spec.user_id)
    ]
    if foreign:
        raise ApiError(403, "every input.user_id must be the authenticated user", errors=foreign)
    placed = [place_in_tier(entry.spec, svc.settings) for entry in entries]
    tiers = sorted({p.tier for p in placed})
    if len(tiers) > 1:
        # One script call checks one tier's limits: an admin batches per tier.
        mixed = [
            FieldError(field=f"tasks.{i}.spec.input.user_id", message=f"user of tier {p.tier}")
            for i, p in enumerate(placed)
        ]
        raise ApiError(
            422, f"a batch holds tasks of one tier (got {', '.join(tiers)})", errors=mixed
        )
    entries = [
        replace(entry, spec=p.spec, extra_fields=p.hash_fields())
        for entry, p in zip(entries, placed, strict=True)
    ]
    limits = svc.limits_for(entries[0].spec.user_id)
    done = await enqueue_batch(svc.redis, entries, limits=limits)
    request.state.decision = f"accepted batch of {len(done)}"
    return BatchAccepted(
        tasks=[
            BatchItemAccepted(
                id=d.task_id,
                status="pending",
                location=location_of(d.task_id),
                replayed=not d.created,
            )
            for d in done
        ]
    )
