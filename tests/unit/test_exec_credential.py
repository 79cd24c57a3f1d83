"""What an exec credential plugin printed, judged without running one."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from devskyy_operator.kube.connection import KubeConfigError
from devskyy_operator.kube.exec_plugin import ExecSpec, parse_exec_credential

pytestmark = [pytest.mark.unit, pytest.mark.timeout(10)]

V1 = "client.authentication.k8s.io/v1"
SPEC = ExecSpec(command="my-plugin", api_version=V1)


def printed(status: Any = None, **fields: Any) -> bytes:
    document = {"apiVersion": V1, "kind": "ExecCredential", **fields}
    if status is not None:
        document["status"] = status
    return json.dumps(document).encode()


def test_a_token_with_its_expiry() -> None:
    result = parse_exec_credential(
        printed({"token": "t", "expirationTimestamp": "2030-01-02T03:04:05Z"}), SPEC
    )
    assert result.token == "t"
    assert result.expires == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def test_due_five_minutes_ahead() -> None:
    expires = "2030-01-01T00:10:00+00:00"
    result = parse_exec_credential(printed({"token": "t", "expirationTimestamp": expires}), SPEC)
    skew = dt.timedelta(minutes=5)
    assert not result.due(dt.datetime(2030, 1, 1, 0, 4, 59, tzinfo=dt.UTC), skew)
    assert result.due(dt.datetime(2030, 1, 1, 0, 5, 0, tzinfo=dt.UTC), skew)
    assert not parse_exec_credential(printed({"token": "t"}), SPEC).due(
        dt.datetime.max.replace(tzinfo=dt.UTC), skew
    )  # no expiry: kept until refused


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (printed({"clientCertificateData": "PEM"}), "both or neither"),
        (printed({}), "neither a token nor a certificate"),
        (printed(), "no status"),
        (printed({"token": "t"}, apiVersion="client.authentication.k8s.io/v1beta1"), "answered"),
        (printed({"token": "t"}, kind="Secret"), "not an ExecCredential"),
        (printed({"token": "t", "expirationTimestamp": "tomorrow"}), "not RFC 3339"),
        (b"token-in-plain-text", "printed no ExecCredential JSON"),
    ],
)
def test_what_is_not_a_credential_is_an_error_naming_the_plugin(
    output: bytes, message: str
) -> None:
    with pytest.raises(KubeConfigError, match=message) as raised:
        parse_exec_credential(output, SPEC)
    assert "exec plugin 'my-plugin'" in str(raised.value)
    assert "token-in-plain-text" not in str(raised.value)
