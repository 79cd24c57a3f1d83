"""/v1/workflows: submit, list, read and cancel workflows.

A workflow is validated here in full, as at no other door: the models, the DAG
rules and the output references (each problem naming its step and field), and
each step's task against the deployment's limits. The API holds no Kubernetes
credentials: it records the workflow in Redis and the bridge creates the
DevSkyyWorkflow; reads come from the operator's copy of its status.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from devskyy_operator.admission.limits import limit_problems
from devskyy_operator.intake.body import read_limited, refuse_duplicate_keys, require_json
from devskyy_operator.intake.deps import RateLimitedCaller, ServicesDep
from devskyy_operator.intake.errors import ApiError, responses
from devskyy_operator.intake.schemas import FieldError
from devskyy_operator.intake.workflow_schemas import (
    WorkflowAccepted,
    WorkflowCancelResult,
    WorkflowView,
    workflow_view,
)
from devskyy_operator.redisq.workflows import (
    WorkflowRecord,
    get_workflow,
    list_user_workflows,
    request_workflow_cancel,
    submit_workflow,
)
from devskyy_operator.settings import Settings
from devskyy_operator.workflow.dag import workflow_problems
from devskyy_operator.workflow.spec import WORKFLOW_NAME_PATTERN, WorkflowSpec, templated_fields
from devskyy_operator.workflow.status import WORKFLOW_DONE

router = APIRouter(prefix="/v1/workflows", tags=["workflows"])

WorkflowName = Annotated[str, Path(max_length=253, description="Workflow name.")]
INVALID = "invalid workflow"


def workflow_spec_body() -> dict[str, object]:
    """OpenAPI request body: the WorkflowSpec schema (registered in `app`)."""
    schema = {"$ref": "#/components/schemas/WorkflowSpec"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def location_of(name: str) -> str:
    return f"/v1/workflows/{name}"


def parse_workflow_body(body: bytes, settings: Settings, now: datetime) -> WorkflowSpec:
    """Strict JSON-mode validation, the DAG and reference rules, then each step's limits;
    422 with every problem, each naming its field (steps.<i>....) and its step."""
    refuse_duplicate_keys(body)
    try:
        spec = WorkflowSpec.model_validate_json(body)
    except ValidationError as exc:
        errors = [
            FieldError(field=".".join(str(p) for p in err["loc"]) or "body", message=err["msg"])
            for err in exc.errors()
        ]
        raise ApiError(422, INVALID, errors=errors) from None
    errors = [FieldError(field=p.field, message=p.message) for p in workflow_problems(spec)]
    for index, step in enumerate(spec.steps):
        if templated_fields(step.task.input):
            continue  # its whole input is known only once its dependencies finished
        errors += [
            FieldError(
                field=f"steps.{index}.task.{p.field}", message=f"step {step.name}: {p.message}"
            )
            for p in limit_problems(step.task, settings, now)
        ]
    if errors:
        raise ApiError(422, INVALID, errors=errors)
    return spec


@router.post(
    "",
    status_code=202,
    response_model=WorkflowAccepted,
    openapi_extra=workflow_spec_body(),
    responses=responses(401, 403, 409, 413, 415, 422, 429, 503),
    summary="Submit a workflow",
)
async def create_workflow(
    request: Request,
    principal: RateLimitedCaller,
    svc: ServicesDep,
    name: Annotated[
        str | None,
        Query(pattern=WORKFLOW_NAME_PATTERN, description="Choose the workflow name yourself."),
    ] = None,
) -> JSONResponse:
    require_json(request)
    body = await read_limited(request, svc.settings.max_body_bytes)
    spec = parse_workflow_body(body, svc.settings, datetime.now(UTC))
    for index, step in enumerate(spec.steps):
        if not principal.may_act_for(step.task.user_id):
            raise ApiError(403, f"steps.{index}.task.input.user_id must be the authenticated user")
    chosen = name or f"wf-{uuid.uuid4().hex[:12]}"
    dumped = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    if not await submit_workflow(svc.redis, chosen, spec.user_id, dumped, time.time()):
        raise ApiError(409, f"workflow {chosen} exists")
    location = location_of(chosen)
    accepted = WorkflowAccepted(id=chosen, status="pending", location=location)
    return JSONResponse(accepted.model_dump(), status_code=202, headers={"Location": location})


async def _visible(svc: ServicesDep, principal: RateLimitedCaller, name: str) -> WorkflowRecord:
    record = await get_workflow(svc.redis, name) if len(name) <= 63 else None
    if record is None or not principal.may_read(record.user_id):
        raise ApiError(404, f"workflow {name} not found")
    return record


@router.get(
    "",
    response_model=list[WorkflowView],
    responses=responses(401, 429, 503),
    summary="The caller's workflows, newest first",
)
async def list_workflows(
    principal: RateLimitedCaller,
    svc: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many.")] = 20,
) -> list[WorkflowView]:
    records = await list_user_workflows(svc.redis, principal.user_id, limit)
    return [workflow_view(r) for r in records]


@router.get(
    "/{name}",
    response_model=WorkflowView,
    responses=responses(401, 404, 429, 503),
    summary="Status of a workflow and of each of its steps",
)
async def read_workflow(
    principal: RateLimitedCaller, svc: ServicesDep, name: WorkflowName
) -> WorkflowView:
    return workflow_view(await _visible(svc, principal, name))


@router.delete(
    "/{name}",
    status_code=202,
    response_model=WorkflowCancelResult,
    responses=responses(401, 404, 409, 429, 503),
    summary="Cancel a workflow: its running steps are stopped, no further one starts",
)
async def cancel_workflow(
    principal: RateLimitedCaller, svc: ServicesDep, name: WorkflowName
) -> WorkflowCancelResult:
    record = await _visible(svc, principal, name)
    if not principal.may_act_for(record.user_id):
        raise ApiError(404, f"workflow {name} not found")
    if record.phase in WORKFLOW_DONE:
        raise ApiError(409, f"workflow {name} already ended {record.phase}")
    await request_workflow_cancel(svc.redis, name)
    return WorkflowCancelResult(id=name, outcome="requested")
