"""Tasks no door should have let in, failed without a Job (pure).

A spec that passed the CRD schema but not the models, or one over the limits of
the current settings (resource maxima, schedule horizon: CEL has no clock, and
the CRD's maxima are the settings' only when the chart wrote both): a final
failure like any other, reason InvalidSpec, error type InvalidTaskInput (as
the bridge records a spec the CRD refuses), with the DLQ record and the hash
first, then Failed with the DeadLettered condition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from devskyy_operator.controller.plan import Plan, PostEvent, RecordFailure
from devskyy_operator.controller.statuses import failed_status
from devskyy_operator.crd import conditions as cond
from devskyy_operator.crd.status import clip
from devskyy_operator.crd.task_view import TaskView
from devskyy_operator.deadletter.record import ERROR_TYPE_INVALID_INPUT, FinalFailure
from devskyy_operator.settings import Settings


def problems_of(exc: ValidationError) -> str:
    """`field.path: message; ...`, the way the API names fields."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def refusal(
    *,
    task_id: str,
    namespace: str,
    generation: int,
    task_type: str,
    task_input: Mapping[str, Any],
    conditions: Sequence[Mapping[str, Any]] | None,
    problems: str,
    now: datetime,
    settings: Settings,
) -> Plan:
    failure = FinalFailure(
        task_id=task_id, task_type=task_type, user_id=str(task_input.get("user_id") or ""),
        namespace=namespace, task_data=dict(task_input), reason=cond.REASON_INVALID_SPEC,
        error=clip(problems), error_type=ERROR_TYPE_INVALID_INPUT, failed_at=now, attempts=0,
        worker_host=settings.worker_host or "",
    )  # fmt: skip
    status = failed_status(conditions, failure, generation, condition_message=failure.error)
    event = PostEvent(cond.REASON_INVALID_SPEC, f"invalid spec: {failure.error}", warning=True)
    return Plan(
        records=(RecordFailure(failure),), status=status, after=(event,),
        note=f"invalid spec: {failure.error}",
    )  # fmt: skip


def refused(body: Mapping[str, Any], problems: str, now: datetime, settings: Settings) -> Plan:
    """The refusal of a task read as a raw body (its spec may not parse)."""
    status = body.get("status") or {}
    if status.get("phase") in cond.TERMINAL_PHASES:
        return Plan()
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    given = spec.get("input")
    return refusal(
        task_id=str(meta.get("name")), namespace=str(meta.get("namespace") or ""),
        generation=int(meta.get("generation") or 0), task_type=str(spec.get("type") or "unknown"),
        task_input=given if isinstance(given, dict) else {}, conditions=status.get("conditions"),
        problems=problems, now=now, settings=settings,
    )  # fmt: skip


def refused_view(task: TaskView, problems: str, now: datetime, settings: Settings) -> Plan:
    """The refusal of a task whose spec parses (it is over the limits of now)."""
    if task.phase in cond.TERMINAL_PHASES:
        return Plan()
    return refusal(
        task_id=task.name, namespace=task.namespace, generation=task.generation,
        task_type=task.task_type.value, task_input=task.spec.input,
        conditions=task.status.get("conditions"), problems=problems, now=now, settings=settings,
    )  # fmt: skip


def invalid(
    body: Mapping[str, Any], exc: ValidationError, now: datetime, settings: Settings
) -> Plan:
    """A spec that passed the CRD schema but not the models."""
    return refused(body, problems_of(exc), now, settings)
