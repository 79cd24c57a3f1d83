"""Each API status maps to the error class of its meaning."""

from __future__ import annotations

import pytest

from devskyy_operator.kube import errors
from devskyy_operator.kube.errors import ApiError, api_error

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, errors.BadRequest),
        (401, errors.Unauthorized),
        (403, errors.Forbidden),
        (404, errors.NotFound),
        (409, errors.Conflict),
        (410, errors.Gone),
        (422, errors.Invalid),
        (429, errors.TooManyRequests),
        (500, errors.ServerError),
        (503, errors.ServerError),
    ],
)
def test_status_picks_the_class(status: int, kind: type[ApiError]) -> None:
    body = {"kind": "Status", "reason": "Because", "message": "no such thing"}
    error = api_error(status, body, "GET", "/api/v1/pods/x")
    assert type(error) is kind
    assert (error.status, error.reason, error.message) == (status, "Because", "no such thing")
    assert str(error) == f"GET /api/v1/pods/x: {status} Because: no such thing"


def test_other_codes_stay_plain_api_errors() -> None:
    error = api_error(418, None, "GET", "/x")
    assert type(error) is ApiError
    assert error.body == {}
