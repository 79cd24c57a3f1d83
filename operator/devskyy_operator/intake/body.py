"""Reading and validating the POST /v1/tasks body.

The size limit is enforced while reading, so a missing or lying Content-Length
cannot make the server buffer more than max_body_bytes. Validation errors name
the field ("input.training_data_path") instead of the whole input.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from pydantic import ValidationError

from devskyy_agents.models import MAX_INPUT_BYTES, TaskSpec, TaskType, parse_input
from devskyy_operator.intake.errors import ApiError
from devskyy_operator.intake.schemas import FieldError


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


def parse_task_spec(body: bytes) -> TaskSpec:
    """Strict JSON-mode validation (as `models.parse_spec`), or 422 naming fields."""
    try:
        spec = TaskSpec.model_validate_json(body)
    except ValidationError as exc:
        raise ApiError(422, "invalid task", errors=_field_errors(exc, body)) from None
    if len(json.dumps(spec.input, separators=(",", ":"))) > MAX_INPUT_BYTES:
        raise ApiError(
            422,
            "invalid task",
            errors=[FieldError(field="input", message=f"larger than {MAX_INPUT_BYTES} bytes")],
        )
    return spec


def _field_errors(exc: ValidationError, body: bytes) -> list[FieldError]:
    errors: list[FieldError] = []
    for err in exc.errors():
        if not err["loc"] and "input does not match type" in err["msg"]:
            errors += _input_errors(body)
            continue
        field = ".".join(str(p) for p in err["loc"]) or "body"
        errors.append(FieldError(field=field, message=err["msg"]))
    return errors or [FieldError(field="body", message=str(exc))]


def _input_errors(body: bytes) -> list[FieldError]:
    """Re-validate just the input to get per-field locations."""
    raw: Any = json.loads(body)
    try:
        parse_input(TaskType(raw["type"]), raw["input"])
    except ValidationError as exc:
        return [
            FieldError(
                field=".".join(["input", *(str(p) for p in err["loc"])]),
                message=err["msg"],
            )
            for err in exc.errors()
        ]
    return [FieldError(field="input", message="does not match its type")]
