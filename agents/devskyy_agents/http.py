"""The one HTTP client factory: explicit timeouts, bounded retries, and an SSRF guard.

Provider base URLs come from operator config and are trusted. URLs a user put in
a task go through `guarded_client`, whose transport resolves the host, refuses
any non-public address and connects to exactly the address it checked, so a DNS
answer that changes between check and connect (rebinding) cannot redirect it.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import random
import socket
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import httpx

from devskyy_agents.errors import (
    CredentialsRejected,
    DeadlineExceeded,
    ProviderRequestRejected,
    ProviderUnavailable,
    UnsafeUrl,
)
from devskyy_agents.safety import check_public_host, is_public_address

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=10.0)
USER_AGENT = "devskyy-task/0.1"
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024


def make_client(
    base_url: str = "",
    *,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    headers: dict[str, str] | None = None,
    auth: httpx.Auth | tuple[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An AsyncClient for a trusted base URL; never follows redirects on its own."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        auth=auth,
        transport=transport,
        follow_redirects=False,
        trust_env=False,
    )


# ----------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by attempts and a deadline."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds named by a Retry-After header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def raise_for_status(response: httpx.Response, provider: str) -> None:
    """Map an HTTP status to the task error taxonomy (2xx passes)."""
    status = response.status_code
    if status < 300:
        return
    if status in (401, 403):
        raise CredentialsRejected(f"{provider} rejected the credentials (HTTP {status})")
    if status in RETRY_STATUSES or status >= 500:
        raise ProviderUnavailable(f"{provider} answered HTTP {status}")
    raise ProviderRequestRejected(
        f"{provider} refused the request (HTTP {status}): {_snippet(response)}"
    )


def _snippet(response: httpx.Response) -> str:
    try:
        return response.text[:200]
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        return ""


def json_body(response: httpx.Response, provider: str) -> Any:
    """The JSON body; malformed JSON is a passing provider fault (retryable)."""
    try:
        return response.json()
    except ValueError:
        raise ProviderUnavailable(f"{provider} sent malformed JSON") from None


async def request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    deadline: float | None,
    policy: RetryPolicy = RetryPolicy(),
    **kwargs: Any,
) -> httpx.Response:
    """Send with retries on 429/5xx/transport errors until `deadline` (epoch seconds).

    Retry-After is honoured; a wait that would overrun the deadline ends the task
    with DeadlineExceeded instead of sleeping into the Job's hard kill.
    """
    attempt = 0
    while True:
        wait: float | None = None
        try:
            response = await client.request(
                method, url, timeout=_bounded_timeout(client.timeout, deadline), **kwargs
            )
        except httpx.TransportError as exc:
            error: ProviderUnavailable = ProviderUnavailable(
                f"{provider} unreachable: {type(exc).__name__}"
            )
        except ProviderUnavailable as exc:
            error = exc
        else:
            try:
                raise_for_status(response, provider)
                return response
            except ProviderUnavailable as exc:
                error = exc
                wait = retry_after_seconds(response.headers.get("Retry-After"))
        attempt += 1
        if attempt >= policy.max_attempts:
            raise error
        delay = policy.backoff(attempt - 1) if wait is None else wait
        if deadline is not None and time.time() + delay >= deadline:
            raise DeadlineExceeded(f"{error}; no time left to retry") from error
        log.info("%s: %s, retry %d in %.1fs", provider, error, attempt, delay)
        await asyncio.sleep(delay)


def _bounded_timeout(timeout: httpx.Timeout, deadline: float | None) -> httpx.Timeout:
    if deadline is None:
        return timeout
    left = max(0.1, deadline - time.time())

    def cap(value: float | None) -> float:
        return left if value is None else min(value, left)

    return httpx.Timeout(
        connect=cap(timeout.connect),
        read=cap(timeout.read),
        write=cap(timeout.write),
        pool=cap(timeout.pool),
    )


# ----------------------------------------------------------------- SSRF guard


@dataclass(frozen=True)
class AddressPolicy:
    """What the guard accepts; the default is public addresses only."""

    allow: Callable[[IPAddress], bool] = is_public_address
    check_host: Callable[[str], None] = check_public_host
    allowed_schemes: frozenset[str] = frozenset({"https"})
    allowed_ports: frozenset[int] | None = frozenset({443, 8443})


async def resolve(host: str, port: int) -> list[IPAddress]:
    """All addresses the system resolver gives for host (literal addresses pass through)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks every request (each redirect hop too) and pins it to the checked address."""

    def __init__(
        self, policy: AddressPolicy = AddressPolicy(), inner: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._policy = policy
        self._inner = inner or httpx.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in self._policy.allowed_schemes:
            raise UnsafeUrl(f"URL scheme {url.scheme!r} is not allowed")
        if url.userinfo:
            raise UnsafeUrl("URL must not carry credentials")
        host = url.host
        try:
            self._policy.check_host(host)
        except ValueError as exc:
            raise UnsafeUrl(str(exc)) from None
        port = url.port or (443 if url.scheme == "https" else 80)
        if self._policy.allowed_ports is not None and port not in self._policy.allowed_ports:
            raise UnsafeUrl(f"URL port {port} is not allowed")
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise ProviderUnavailable(f"cannot resolve {host!r}: {exc}") from None
        if not addresses:
            raise UnsafeUrl(f"{host!r} resolves to no address")
        bad = [a for a in addresses if not self._policy.allow(a)]
        if bad:
            raise UnsafeUrl(f"URL host {host!r} resolves to a non-public address")
        pinned = addresses[0]
        ip_host = f"[{pinned}]" if pinned.version == 6 else str(pinned)
        request.url = url.copy_with(host=ip_host)
        request.headers["Host"] = url.netloc.decode("ascii")
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def guarded_client(
    *, policy: AddressPolicy = AddressPolicy(), timeout: httpx.Timeout = DEFAULT_TIMEOUT
) -> httpx.AsyncClient:
    """A client for user-supplied URLs; follows up to 3 redirects, each one re-checked."""
    return httpx.AsyncClient(
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        transport=GuardedTransport(policy),
        follow_redirects=True,
        max_redirects=3,
        trust_env=False,
    )


async def fetch_user_url(
    client: httpx.AsyncClient, url: str, *, deadline: float | None, limit: int = MAX_DOWNLOAD_BYTES
) -> tuple[bytes, str]:
    """Download a user-supplied URL through the guarded client: (body, content type).

    The client's transport enforces the URL rules, so this works for any policy."""
    try:
        response = await request(client, "GET", url, provider="image host", deadline=deadline)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise UnsafeUrl(f"not a usable URL: {exc}") from None
    if len(response.content) > limit:
        raise ProviderRequestRejected(f"download larger than {limit} bytes")
    return response.content, response.headers.get("Content-Type", "application/octet-stream")


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def check_config_url(url: str, name: str, plain_http_hosts: Collection[str] = ()) -> str:
    """A URL from operator config: https, or plain http to loopback or to a host the
    operator listed in PLAIN_HTTP_HOSTS (a stand-in server on the node, in tests).

    Operator config is trusted, so this is no SSRF guard (user URLs have that);
    it keeps a typo from sending a provider key in clear text to the internet."""
    parts = httpx.URL(url)
    if parts.scheme == "https" and parts.host:
        return url.rstrip("/")
    if parts.scheme == "http" and parts.host in (*LOOPBACK_HOSTS, *plain_http_hosts):
        return url.rstrip("/")
    raise ProviderRequestRejected(
        f"{name} must be an https URL (http only for loopback and PLAIN_HTTP_HOSTS)"
    )
