"""Reading and validating the POST /v1/tasks:batch body: every item is checked
before any is queued, and each error names the item (``tasks.3.spec.input.epochs``).

Each item's spec goes through `parse_task_spec`, the single enqueue's own
validation, so a batch is exactly as strict as N single requests.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from devskyy_agents.models import TASK_ID_PATTERN
from devskyy_operator.intake.body import (
    IDEMPOTENCY_KEY_PATTERN,
    parse_task_spec,
    refuse_duplicate_keys,
)
from devskyy_operator.intake.errors import ApiError
from devskyy_operator.intake.schemas import FieldError
from devskyy_operator.redisq.batch import BatchEntry
from devskyy_operator.settings import Settings

ITEM_FIELDS = frozenset({"spec", "task_id", "idempotency_key"})


def parse_batch(body: bytes, settings: Settings, now: datetime) -> list[BatchEntry]:
    """The batch's entries, or 422 listing every offending field of every item."""
    refuse_duplicate_keys(body)
    try:
        raw: Any = json.loads(body)
    except ValueError as exc:
        not_json = [FieldError(field="body", message=f"not JSON: {exc}")]
        raise ApiError(422, "invalid batch", errors=not_json) from None
    tasks = _task_list(raw, settings.max_batch_tasks)
    entries: list[BatchEntry] = []
    errors: list[FieldError] = []
    for index, item in enumerate(tasks):
        try:
            entries.append(_entry(item, index, settings, now))
        except ApiError as exc:
            errors += exc.errors or [FieldError(field=f"tasks.{index}", message=exc.detail)]
    errors += _duplicates(entries) if not errors else []
    if errors:
        raise ApiError(422, "invalid batch: no task was queued", errors=errors)
    return entries


def _task_list(raw: Any, max_tasks: int) -> list[Any]:
    def refuse(field: str, message: str) -> ApiError:
        return ApiError(422, "invalid batch", errors=[FieldError(field=field, message=message)])

    if not isinstance(raw, dict):
        raise refuse("body", 'expected an object {"tasks": [...]}')
    unknown = sorted(set(raw) - {"tasks"})
    if unknown:
        raise refuse(unknown[0], "unknown field")
    tasks = raw.get("tasks")
    if not isinstance(tasks, list):
        raise refuse("tasks", "required: a list of {spec, task_id?, idempotency_key?}")
    if not 1 <= len(tasks) <= max_tasks:
        raise refuse("tasks", f"must hold 1 to {max_tasks} tasks (got {len(tasks)})")
    return tasks


def _entry(item: Any, index: int, settings: Settings, now: datetime) -> BatchEntry:
    at = f"tasks.{index}"
    errors: list[FieldError] = []
    if not isinstance(item, dict):
        raise ApiError(
            422, "invalid batch", errors=[FieldError(field=at, message="expected an object")]
        )
    errors += [
        FieldError(field=f"{at}.{name}", message="unknown field")
        for name in sorted(set(item) - ITEM_FIELDS)
    ]
    task_id = _optional_text(item, "task_id", TASK_ID_PATTERN, at, errors)
    key = _optional_text(item, "idempotency_key", IDEMPOTENCY_KEY_PATTERN, at, errors)
    if "spec" not in item:
        errors.append(FieldError(field=f"{at}.spec", message="required"))
    else:
        try:
            spec = parse_task_spec(json.dumps(item["spec"]).encode(), settings, now)
        except ApiError as exc:
            errors += [
                FieldError(field=_under(f"{at}.spec", e.field), message=e.message)
                for e in exc.errors or [FieldError(field="body", message=exc.detail)]
            ]
    if errors:
        raise ApiError(422, "invalid batch", errors=errors)
    return BatchEntry(spec=spec, task_id=task_id, idempotency_key=key)


def _under(prefix: str, field: str) -> str:
    return prefix if field == "body" else f"{prefix}.{field}"


def _optional_text(
    item: dict[str, Any], name: str, pattern: str, at: str, errors: list[FieldError]
) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or re.fullmatch(pattern, value) is None:
        errors.append(FieldError(field=f"{at}.{name}", message=f"must match {pattern}"))
        return None
    return value


def _duplicates(entries: list[BatchEntry]) -> list[FieldError]:
    """A task id or a user's Idempotency-Key given twice in one batch is ambiguous."""
    errors: list[FieldError] = []
    ids: dict[str, int] = {}
    idempotency: dict[tuple[str, str], int] = {}
    for index, entry in enumerate(entries):
        if entry.task_id is not None:
            first = ids.setdefault(entry.task_id, index)
            if first != index:
                errors.append(
                    FieldError(
                        field=f"tasks.{index}.task_id", message=f"same as tasks.{first}.task_id"
                    )
                )
        if entry.idempotency_key is not None:
            first = idempotency.setdefault((entry.spec.user_id, entry.idempotency_key), index)
            if first != index:
                errors.append(
                    FieldError(
                        field=f"tasks.{index}.idempotency_key",
                        message=f"same as tasks.{first}.idempotency_key for the same user",
                    )
                )
    return errors
