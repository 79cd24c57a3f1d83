"""Which proxy the environment names for the API server (kubectl's rules)."""

from __future__ import annotations

import pytest

from devskyy_operator.kube.config import environment_proxy

pytestmark = [pytest.mark.unit, pytest.mark.timeout(10)]

PROXY = {"HTTPS_PROXY": "http://proxy.internal:3128"}


def test_https_proxy_is_used_for_a_remote_server() -> None:
    assert environment_proxy("https://api.example:6443", PROXY) == "http://proxy.internal:3128"


@pytest.mark.parametrize(
    "server", ["https://127.0.0.1:6443", "https://localhost:6443", "https://[::1]:6443"]
)
def test_loopback_is_never_proxied(server: str) -> None:
    assert environment_proxy(server, PROXY) is None


def test_no_proxy_is_honoured() -> None:
    env = PROXY | {"NO_PROXY": ".example,10.0.0.0/8"}
    assert environment_proxy("https://api.example:6443", env) is None
    assert environment_proxy("https://api.other:6443", env) == "http://proxy.internal:3128"


def test_no_proxy_variable_means_no_proxy() -> None:
    assert environment_proxy("https://api.example:6443", {}) is None


def test_no_proxy_cidr_and_star() -> None:
    assert environment_proxy("https://10.1.2.3:6443", PROXY | {"no_proxy": "10.0.0.0/8"}) is None
    assert environment_proxy("https://10.1.2.3:6443", PROXY | {"no_proxy": "192.168.0.0/16"})
    assert environment_proxy("https://api.example:6443", PROXY | {"NO_PROXY": "*"}) is None
