"""Reading and validating schedule bodies: `POST /v1/schedules` and the merge patch
of `PATCH /v1/schedules/{name}`.

The spec is `crd.schedule.ScheduleSpec`, the CR's own model (cron expression and
time zone checked by `cron`), then the template's task against the deployment's
limits as a task of its own would be; errors name the field
("spec.timeZone", "spec.template.spec.input.epochs").
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from devskyy_operator.admission.limits import limit_problems
from devskyy_operator.crd.schedule import SCHEDULE_NAME_PATTERN, ScheduleSpec
from devskyy_operator.intake.body import field_errors, refuse_duplicate_keys
from devskyy_operator.intake.errors import ApiError
from devskyy_operator.intake.schemas import FieldError
from devskyy_operator.settings import Settings

INVALID = "invalid schedule"


class NewSchedule(BaseModel):
    """The body of `POST /v1/schedules`: a DevSkyySchedule's name and spec."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    name: str = Field(
        pattern=SCHEDULE_NAME_PATTERN,
        description="The DevSkyySchedule's name; runs are named <name>-<unix minutes>.",
    )
    spec: ScheduleSpec


def parse_new_schedule(body: bytes, settings: Settings, now: datetime) -> NewSchedule:
    refuse_duplicate_keys(body)
    try:
        new = NewSchedule.model_validate_json(body)
    except ValidationError as exc:
        raise ApiError(422, INVALID, errors=field_errors(exc, body)) from None
    _within_limits(new.spec, settings, now, "spec.")
    return new


def parse_patched_spec(
    current: dict[str, Any], patch_body: bytes, settings: Settings, now: datetime
) -> ScheduleSpec:
    """`current` (the stored spec, by alias) with the JSON merge patch applied (RFC 7396),
    validated as a whole; errors name the spec's fields."""
    refuse_duplicate_keys(patch_body)
    try:
        patch = json.loads(patch_body)
    except ValueError as exc:
        raise ApiError(422, INVALID, errors=[FieldError(field="body", message=str(exc))]) from None
    if not isinstance(patch, dict):
        errors = [FieldError(field="body", message="a merge patch of the spec must be an object")]
        raise ApiError(422, INVALID, errors=errors)
    merged = json.dumps(merge_patch(current, patch)).encode()
    try:
        spec = ScheduleSpec.model_validate_json(merged)
    except ValidationError as exc:
        raise ApiError(422, INVALID, errors=field_errors(exc, merged)) from None
    _within_limits(spec, settings, now, "")
    return spec


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge key by key, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def stored_spec(spec: ScheduleSpec) -> dict[str, Any]:
    """The spec as the CR carries it: by alias, without nulls (the CRD has none)."""
    dumped: dict[str, Any] = spec.model_dump(by_alias=True, mode="json", exclude_none=True)
    template_spec = dumped["template"]["spec"]
    dumped["template"]["spec"] = {k: v for k, v in template_spec.items() if v is not None}
    return dumped


def _within_limits(spec: ScheduleSpec, settings: Settings, now: datetime, prefix: str) -> None:
    problems = limit_problems(spec.template.spec, settings, now)
    if problems:
        where = f"{prefix}template.spec."
        errors = [FieldError(field=where + p.field, message=p.message) for p in problems]
        raise ApiError(422, INVALID, errors=errors)
