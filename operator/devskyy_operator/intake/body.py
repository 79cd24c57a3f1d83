"""Reading and validating the POST /v1/tasks body.

The size limit is enforced while reading, so a missing or lying Content-Length
cannot make the server buffer more than max_body_bytes. Only JSON is read
(415 otherwise), a key given twice is refused rather than "last one wins", and
validation errors name the field ("input.training_data_path") instead of the
whole input. The limits of the deployment (resource maxima, schedule horizon)
are checked after the models, with the same function the operator uses.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import Request
from pydantic import ValidationError

from devskyy_agents.models import TaskSpec, TaskType, parse_input
from devskyy_operator.admission.limits import limit_problems
from devskyy_operator.intake.errors import ApiError
from devskyy_operator.intake.schemas import FieldError
from devskyy_operator.settings import Settings

JSON_MEDIA_TYPE = "application/json"
# An Idempotency-Key: printable ASCII without spaces, as the header allows it.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,200}$"


def require_json(request: Request) -> None:
    """415 unless the body is declared as JSON (parameters such as charset allowed)."""
    declared = request.headers.get("content-type", "")
    if declared.split(";", 1)[0].strip().lower() != JSON_MEDIA_TYPE:
        shown = declared or "none"
        raise ApiError(415, f"Content-Type must be {JSON_MEDIA_TYPE} (got {shown})")


async def read_limited(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise ApiError(413, f"body larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, f"body larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class _DuplicateKey(ValueError):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateKey
    return result


class _Pairs(list[tuple[str, Any]]):
    """An object kept as its key/value pairs, so a duplicate can be located."""


def _first_duplicate(node: Any, path: tuple[str, ...] = ()) -> str | None:
    if isinstance(node, _Pairs):
        seen: set[str] = set()
        for key, value in node:
            if key in seen:
                return ".".join((*path, key))
            seen.add(key)
            found = _first_duplicate(value, (*path, key))
            if found is not None:
                return found
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found = _first_duplicate(item, (*path, str(index)))
            if found is not None:
                return found
    return None


def refuse_duplicate_keys(body: bytes) -> None:
    """422 naming the first key that occurs twice in one object (anywhere in the body).

    Malformed JSON passes here: the model's own parse reports it.
    """
    try:
        json.loads(body, object_pairs_hook=_refuse_duplicates)
    except _DuplicateKey:
        located = _first_duplicate(json.loads(body, object_pairs_hook=_Pairs))
        field = located or "body"
        errors = [FieldError(field=field, message="key given more than once")]
        raise ApiError(422, "invalid task", errors=errors) from None
    except ValueError:
        return


def parse_task_spec(body: bytes, settings: Settings, now: datetime) -> TaskSpec:
    """Strict JSON-mode validation (as `models.parse_spec`), then the deployment's
    limits, or 422 naming fields."""
    refuse_duplicate_keys(body)
    try:
        spec = TaskSpec.model_validate_json(body)
    except ValidationError as exc:
        raise ApiError(422, "invalid task", errors=field_errors(exc, body)) from None
    problems = limit_problems(spec, settings, now)
    if problems:
        errors = [FieldError(field=p.field, message=p.message) for p in problems]
        raise ApiError(422, "invalid task", errors=errors)
    return spec


def field_errors(exc: ValidationError, body: bytes) -> list[FieldError]:
    """The model's errors as dotted fields; a task input that does not match its type
    (at the top, or nested as in a schedule's template) is named field by field."""
    errors: list[FieldError] = []
    for err in exc.errors():
        if "input does not match type" in err["msg"]:
            errors += _input_errors(body, tuple(err["loc"]))
            continue
        field = ".".join(str(p) for p in err["loc"]) or "body"
        errors.append(FieldError(field=field, message=err["msg"]))
    return errors or [FieldError(field="body", message=str(exc))]


def _input_errors(body: bytes, loc: tuple[int | str, ...] = ()) -> list[FieldError]:
    """Re-validate just the input (of the task spec at `loc`) to get per-field locations."""
    prefix = [str(p) for p in loc]
    raw: Any = json.loads(body)
    try:
        for part in loc:
            raw = raw[part]
        parse_input(TaskType(raw["type"]), raw["input"])
    except ValidationError as exc:
        return [
            FieldError(
                field=".".join([*prefix, "input", *(str(p) for p in err["loc"])]),
                message=err["msg"],
            )
            for err in exc.errors()
        ]
    except (KeyError, IndexError, TypeError, ValueError):
        pass
    return [FieldError(field=".".join([*prefix, "input"]), message="does not match its type")]
