"""The API server's refusals, one class per meaning, caught by type.

As in kopf (`_cogs/clients/errors.py`): callers write `except NotFound` rather
than testing `exc.status == 404` at every call site. Every class keeps the
answer's Status object (`reason`, `message`) and the request that got it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ApiError(Exception):
    """A non-2xx answer of the API server, with its Status object."""

    def __init__(self, status: int, body: Mapping[str, Any] | None, method: str, path: str):
        self.status = status
        self.body = dict(body or {})
        self.reason = str(self.body.get("reason", ""))
        self.message = str(self.body.get("message", ""))
        super().__init__(f"{method} {path}: {status} {self.reason}: {self.message}")


class BadRequest(ApiError):
    """400: the request itself is malformed."""


class Unauthorized(ApiError):
    """401: no or unknown credentials."""


class Forbidden(ApiError):
    """403: RBAC (or an admission plugin such as Pod Security) refused it."""


class NotFound(ApiError):
    """404: the object (or its namespace) does not exist: often "already gone"."""


class Conflict(ApiError):
    """409: AlreadyExists on create, or a stale resourceVersion on update."""


class Gone(ApiError):
    """410: a watch's resourceVersion is too old; list again."""


class Invalid(ApiError):
    """422: the object failed validation (OpenAPI schema, CEL rules)."""


class TooManyRequests(ApiError):
    """429: throttled (API priority and fairness); try again later."""


class ServerError(ApiError):
    """5xx: the API server (or etcd behind it) failed; try again later."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
}


def api_error(status: int, body: Mapping[str, Any] | None, method: str, path: str) -> ApiError:
    """The error of the class that `status` means (ApiError for other codes)."""
    kind = ServerError if status >= 500 else _BY_STATUS.get(status, ApiError)
    return kind(status, body, method, path)
