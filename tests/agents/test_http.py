"""HTTP client: status mapping, Retry-After, timeouts, and the SSRF guard."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from email.utils import formatdate

import httpx
import pytest

from devskyy_agents.errors import (
    CredentialsRejected,
    DeadlineExceeded,
    ProviderRequestRejected,
    ProviderUnavailable,
    UnsafeUrl,
)
from devskyy_agents.http import (
    AddressPolicy,
    RetryPolicy,
    check_config_url,
    fetch_user_url,
    guarded_client,
    json_body,
    make_client,
    request,
    retry_after_seconds,
)
from devskyy_agents.registry import RunContext
from tests.providers.base import Provider, Reply, Request, serving

FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)


class Echo(Provider):
    def route(self, request: Request) -> Reply:
        if request.path == "/redirect-internal":
            return Reply(302, headers={"Location": "https://169.254.169.254/latest/meta-data"})
        return Reply.json({"path": request.path, "host": request.headers.get("host")})


@pytest.fixture
def echo() -> Iterator[Echo]:
    with serving(Echo()) as server:
        yield server


@pytest.fixture
async def client(echo: Echo) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(echo.url) as c:
        yield c


@pytest.mark.unit
@pytest.mark.timeout(10)
def test_retry_after_parsing() -> None:
    assert retry_after_seconds("7") == 7.0
    now = time.time()
    assert 9 <= (retry_after_seconds(formatdate(now + 10, usegmt=True), now=now) or 0) <= 10
    assert retry_after_seconds(formatdate(now - 10, usegmt=True), now=now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


@pytest.mark.unit
@pytest.mark.timeout(10)
def test_config_urls_https_or_loopback_http() -> None:
    assert check_config_url("https://shop.example.com/", "X") == "https://shop.example.com"
    assert check_config_url("http://127.0.0.1:8080", "X") == "http://127.0.0.1:8080"
    with pytest.raises(ProviderRequestRejected):
        check_config_url("http://shop.example.com", "X")


@pytest.mark.unit
@pytest.mark.timeout(10)
def test_config_urls_plain_http_only_to_the_listed_hosts() -> None:
    node_host = "198.18.1.1"
    ctx = RunContext(config={"PLAIN_HTTP_HOSTS": f" {node_host}, stub.internal "})
    assert ctx.plain_http_hosts == (node_host, "stub.internal")
    url = f"http://{node_host}:8080/v2/"
    assert check_config_url(url, "X", ctx.plain_http_hosts) == url.rstrip("/")
    with pytest.raises(ProviderRequestRejected, match="PLAIN_HTTP_HOSTS"):
        check_config_url("http://198.18.1.9:8080", "X", ctx.plain_http_hosts)
    with pytest.raises(ProviderRequestRejected):
        check_config_url(url, "X")  # not listed: refused


pytestmark = [pytest.mark.timeout(30)]


@pytest.mark.integration
async def test_retry_after_is_honoured(echo: Echo, client: httpx.AsyncClient) -> None:
    echo.fail_next("status", 429, headers={"Retry-After": "1"})
    started = time.monotonic()
    response = await request(client, "GET", "/x", provider="echo", deadline=None, policy=FAST)
    assert response.status_code == 200
    assert time.monotonic() - started >= 1.0
    assert len(echo.requests) == 2


@pytest.mark.integration
async def test_retry_after_beyond_deadline_fails_fast(
    echo: Echo, client: httpx.AsyncClient
) -> None:
    echo.fail_next("status", 503, headers={"Retry-After": "120"})
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await request(client, "GET", "/x", provider="echo", deadline=time.time() + 5, policy=FAST)
    assert time.monotonic() - started < 2


@pytest.mark.integration
async def test_5xx_exhausts_attempts(echo: Echo, client: httpx.AsyncClient) -> None:
    echo.fail_next("status", 500, times=10)
    with pytest.raises(ProviderUnavailable):
        await request(client, "GET", "/x", provider="echo", deadline=None, policy=FAST)
    assert len(echo.requests) == FAST.max_attempts


@pytest.mark.integration
@pytest.mark.parametrize(
    ("status", "error"),
    [(401, CredentialsRejected), (403, CredentialsRejected), (404, ProviderRequestRejected)],
)
async def test_permanent_statuses_are_not_retried(
    echo: Echo, client: httpx.AsyncClient, status: int, error: type[Exception]
) -> None:
    echo.fail_next("status", status)
    with pytest.raises(error):
        await request(client, "GET", "/x", provider="echo", deadline=None, policy=FAST)
    assert len(echo.requests) == 1


@pytest.mark.integration
async def test_malformed_json_is_retryable(echo: Echo, client: httpx.AsyncClient) -> None:
    echo.fail_next("malformed")
    response = await request(client, "GET", "/x", provider="echo", deadline=None)
    with pytest.raises(ProviderUnavailable):
        json_body(response, "echo")


@pytest.mark.integration
async def test_hang_is_cut_by_deadline(echo: Echo, client: httpx.AsyncClient) -> None:
    echo.fail_next("hang", times=10)
    started = time.monotonic()
    with pytest.raises((ProviderUnavailable, DeadlineExceeded)):
        await request(client, "GET", "/x", provider="echo", deadline=time.time() + 1.5, policy=FAST)
    assert time.monotonic() - started < 10


# ----------------------------------------------------------------- SSRF guard

BLOCKED = [
    "https://169.254.169.254/latest/meta-data/",
    "https://localhost/",
    "https://localhost./",
    "https://LOCALHOST.:443/",
    "https://127.0.0.1/",
    "https://127.1/",
    "https://2130706433/",
    "https://0x7f000001/",
    "https://0177.0.0.1/",
    "https://[::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://10.0.0.1/",
    "https://user:secret@example.com/",
    "http://example.com/",
    "ftp://example.com/",
    "https://example.com:22/",
    "https://kubernetes.default.svc/",
    "https://metadata.google.internal/",
]


@pytest.mark.integration
@pytest.mark.parametrize("url", BLOCKED)
async def test_guard_refuses(url: str) -> None:
    async with guarded_client() as c:
        with pytest.raises(UnsafeUrl):
            await fetch_user_url(c, url, deadline=None)


@pytest.mark.integration
async def test_guard_refuses_a_name_that_resolves_to_loopback() -> None:
    # The machine's own host name passes every static check but resolves (via
    # /etc/hosts) to a non-public address: only the post-resolution check stops it.
    name = socket.gethostname()
    address = socket.gethostbyname(name)
    if address.startswith(("127.", "10.", "192.168.", "172.")) is False:
        pytest.skip(f"{name} resolves to {address}")
    async with guarded_client() as c:
        with pytest.raises(UnsafeUrl, match="resolves to a non-public address"):
            await c.get(f"https://{name}/image.png")


@pytest.mark.integration
async def test_guard_pins_the_checked_address_and_keeps_host(echo: Echo) -> None:
    port = int(echo.url.rsplit(":", 1)[1])
    policy = AddressPolicy(
        allow=lambda a: a.is_loopback,
        check_host=lambda h: None,
        allowed_schemes=frozenset({"http"}),
        allowed_ports=None,
    )
    async with guarded_client(policy=policy) as c:
        response = await c.get(f"http://localhost:{port}/pinned")
    assert response.json() == {"path": "/pinned", "host": f"localhost:{port}"}


@pytest.mark.integration
async def test_guard_rechecks_redirect_targets(echo: Echo) -> None:
    port = int(echo.url.rsplit(":", 1)[1])
    policy = AddressPolicy(
        allow=lambda a: a.is_loopback,
        check_host=lambda h: None,
        allowed_schemes=frozenset({"http", "https"}),
        allowed_ports=None,
    )
    async with guarded_client(policy=policy) as c:
        with pytest.raises(UnsafeUrl):
            await c.get(f"http://localhost:{port}/redirect-internal")
