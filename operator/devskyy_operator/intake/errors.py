"""One error shape (`Problem`), the exception handlers that produce it, and the
OpenAPI declaration of each status code.

Routes raise `ApiError` for what the HTTP layer decides (authentication,
ownership, body limits) and let the queue's own refusals (`redisq.errors`)
propagate: `queue_error_handler` answers each with the status it carries.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from devskyy_operator.intake.schemas import FieldError, Problem
from devskyy_operator.redisq.errors import BatchItemRefused, QueueError

# An error reply lists this many field errors at most: 20,000 unknown fields must
# not become a megabyte of reply. `errors_omitted` counts the rest.
MAX_FIELD_ERRORS = 50

DESCRIPTIONS = {
    401: "Missing or unknown bearer token.",
    403: "Authenticated, but not allowed to act for this user.",
    404: "No such task (or not yours).",
    409: "Conflict: id taken, Idempotency-Key reused with another body, or already finished.",
    413: "Request body larger than max_body_bytes.",
    415: "The body is not declared as application/json.",
    422: "Invalid request; `errors` names each offending field.",
    429: "Rate limit or queued-task cap reached; see Retry-After.",
    503: "Redis or (for the list and histories) the history store unavailable.",
}


class ApiError(Exception):
    """Raised by handlers; rendered as a Problem with the given status."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers
        self.errors = errors


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error codes a route can return."""
    return {code: {"model": Problem, "description": DESCRIPTIONS[code]} for code in codes}


def problem(
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    errors: list[FieldError] | None = None,
) -> JSONResponse:
    omitted = None
    if errors is not None and len(errors) > MAX_FIELD_ERRORS:
        omitted = len(errors) - MAX_FIELD_ERRORS
        errors = errors[:MAX_FIELD_ERRORS]
        detail = f"{detail} ({omitted} more errors not listed)"
    problem = Problem(detail=detail, errors=errors, errors_omitted=omitted)
    return JSONResponse(problem.model_dump(exclude_none=True), status_code=status, headers=headers)


def retry_after(seconds: float) -> dict[str, str]:
    """The Retry-After header: whole seconds, at least 1."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def _rejected(request: Request, detail: str) -> None:
    if not getattr(request.state, "decision", None):
        request.state.decision = f"rejected: {detail}"


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    _rejected(request, exc.detail)
    return problem(exc.status, exc.detail, exc.headers, exc.errors)


async def queue_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Every refusal of the queue, with the status (and Retry-After) it carries."""
    assert isinstance(exc, QueueError)
    detail = str(exc)
    _rejected(request, detail)
    headers = None if exc.retry_after is None else retry_after(exc.retry_after)
    if isinstance(exc, BatchItemRefused):  # answered as its cause, naming the item
        errors = [FieldError(field=exc.field, message=str(exc.cause))]
        return problem(exc.cause.http_status, detail, headers, errors)
    return problem(exc.http_status, detail, headers)


async def request_validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(field=".".join(str(p) for p in err["loc"]), message=err["msg"])
        for err in exc.errors()
    ]
    request.state.decision = "rejected: invalid parameters"
    return problem(422, "invalid request", errors=errors)


async def redis_down_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RedisConnectionError | RedisTimeoutError)
    request.state.decision = "error: redis unavailable"
    return problem(503, "task store unavailable", {"Retry-After": "5"})


async def history_down_handler(request: Request, exc: Exception) -> JSONResponse:
    """PostgreSQL is down or refused: only the history reads fail, tasks carry on."""
    request.state.decision = "error: history store unavailable"
    return problem(503, "task history unavailable", {"Retry-After": "5"})
