"""GET /v1/sla: how each task type did against its objectives over a window.

Read from the history store (PostgreSQL), which keeps every task's enqueue,
admission and end times for longer than Redis keeps its records, and judged by
the same pure functions the operator judges with (`admission.sla`), against the
objectives of this API's settings. Operator and admin tokens only: it covers
every user's tasks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from devskyy_agents.clock import utc_iso
from devskyy_agents.models import TaskType
from devskyy_operator.admission import sla
from devskyy_operator.history import store
from devskyy_operator.intake.deps import RateLimitedCaller, ServicesDep
from devskyy_operator.intake.errors import ApiError, responses
from devskyy_operator.intake.schemas import ObjectiveCompliance, SlaReport
from devskyy_operator.settings import Settings

router = APIRouter(tags=["sla"])

MAX_WINDOW_SECONDS = 90 * 24 * 3600


def report_rows(
    rows: list[store.Row], settings: Settings, types: list[TaskType]
) -> dict[str, list[ObjectiveCompliance]]:
    """Each type's compliance per objective from the rows of `store.ended_between`."""
    verdicts: dict[str, list[sla.Verdict]] = {t.value: [] for t in types}
    for row in rows:
        kind = str(row["task_type"])
        if kind not in verdicts:
            continue  # a type this API does not know (an older or newer release)
        verdicts[kind].append(
            sla.ended_task_verdict(
                queued_at=row["created_at"],
                scheduled_for=sla.schedule_of(row),
                admitted_at=row["admitted_at"],
                completed_at=row["completed_at"],
                objective=settings.sla_for(kind),
            )
        )
    result: dict[str, list[ObjectiveCompliance]] = {}
    for kind, of_kind in verdicts.items():
        objective = settings.sla_for(kind)
        report = sla.compliance(kind, objective, of_kind)
        result[kind] = [
            ObjectiveCompliance(
                objective=name,
                bound_seconds=sla.bound_of(objective, name),
                target=objective.target,
                judged=report.judged[name],
                met=report.met[name],
                compliance=report.ratio(name),
                compliant=report.compliant(name),
            )
            for name in sla.OBJECTIVES
        ]
    return result


@router.get(
    "/v1/sla",
    response_model=SlaReport,
    responses=responses(401, 403, 422, 429, 503),
    summary="SLA compliance per task type over a window (from the task history)",
)
async def sla_report(
    principal: RateLimitedCaller,
    svc: ServicesDep,
    window_seconds: Annotated[
        int, Query(ge=60, le=MAX_WINDOW_SECONDS, description="Tasks that ended this recently.")
    ] = 3600,
    type: Annotated[TaskType | None, Query(description="One task type only.")] = None,
) -> SlaReport:
    if not principal.sees_all:
        raise ApiError(403, "the SLA report covers every user's tasks: operator or admin only")
    if svc.history is None:
        raise ApiError(503, "task history is not configured (DATABASE_URL)")
    until = datetime.now(UTC)
    since = until - timedelta(seconds=window_seconds)
    async with svc.history.connection() as conn:
        rows = await store.ended_between(conn, since, until, type.value if type else None)
    types = [type] if type is not None else list(TaskType)
    return SlaReport(
        since=utc_iso(since, timespec="seconds"),
        until=utc_iso(until, timespec="seconds"),
        window_seconds=window_seconds,
        types=report_rows(rows, svc.settings, types),
    )
