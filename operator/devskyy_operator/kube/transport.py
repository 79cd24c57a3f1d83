"""HTTP to the API server: aiohttp, with the credential of the moment on every request.

A 401 reloads the configuration once and sends the request again with the new
credential, as client-go does for exec plugins (a 401 was not processed, so
resending is safe). A new client certificate is loaded into the shared SSL
context: connections opened from then on present it.

Why aiohttp and HTTP/1.1 (bench/bench_kube_client.py, numbers in the README):
our earlier httpx HTTP/2 transport cost 2-6x the client CPU per request of this
one (and more than the official async client, also aiohttp), and httpcore loses the 401
answer of the API server over HTTP/2 (the server sends GOAWAY when an HTTP/2
request fails authentication, httpcore then fails the stream instead of
reading its response), so a refused token could never be refreshed. aiohttp is
also what kopf uses: one HTTP stack in the process.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Mapping

import aiohttp

from devskyy_operator.kube.config import Credential, KubeConfig

CONNECT_TIMEOUT = 10.0
# HTTP/1.1: one per request in flight (64 Job starts + 32 reconciles); watches hold one each.
MAX_CONNECTIONS = 128

# What a request can raise besides ApiError: no answer from the API server.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError, OSError)


def ssl_context(config: KubeConfig) -> ssl.SSLContext:
    """CA (or no verification) and the client certificate: both, never one or the other."""
    endpoint = config.endpoint
    context = ssl.create_default_context(cafile=endpoint.ca_file)
    if endpoint.insecure:
        # insecure-skip-tls-verify drops server verification only; a client
        # certificate is still how we authenticate.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    _load_certificate(context, config.credential)
    return context


def _load_certificate(context: ssl.SSLContext, credential: Credential) -> None:
    if credential.cert_file:
        context.load_cert_chain(credential.cert_file, credential.key_file)


class KubeTransport:
    """One aiohttp session (made on first use, inside the running loop) and the credentials."""

    def __init__(self, config: KubeConfig, read_timeout: float) -> None:
        self.config = config
        self.read_timeout = read_timeout
        self.context = ssl_context(config)
        self._certificate = (config.credential.cert_file, config.credential.key_file)
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self.context, limit=MAX_CONNECTIONS),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=CONNECT_TIMEOUT, sock_read=self.read_timeout
                ),
                # No per-request environment lookups: Endpoint.proxy already holds
                # proxy-url or the environment's proxy.
                trust_env=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @contextlib.asynccontextmanager
    async def open(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The answer to one request (sent a second time after a 401 with a new credential)."""
        sent = await self.config.current()
        response = await self._send(sent, method, path, data, params, headers, read_timeout)
        try:
            if response.status == 401:
                fresh = await self.config.refresh(sent)
                if fresh != sent:
                    response.release()
                    response = await self._send(
                        fresh, method, path, data, params, headers, read_timeout
                    )
            yield response
        finally:
            response.release()

    async def _send(
        self,
        credential: Credential,
        method: str,
        path: str,
        data: bytes | None,
        params: Mapping[str, str | int] | None,
        headers: Mapping[str, str] | None,
        read_timeout: float | None,
    ) -> aiohttp.ClientResponse:
        certificate = (credential.cert_file, credential.key_file)
        if certificate != self._certificate:
            _load_certificate(self.context, credential)
            self._certificate = certificate
        sending = dict(headers or {})
        if credential.authorization:
            sending["Authorization"] = credential.authorization
        session = self._open_session()
        url = self.config.server + path
        query = dict(params) if params else None
        proxy = self.config.endpoint.proxy
        if read_timeout is None:
            return await session.request(
                method, url, data=data, params=query, headers=sending, proxy=proxy
            )
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=CONNECT_TIMEOUT, sock_read=read_timeout
        )
        return await session.request(
            method, url, data=data, params=query, headers=sending, proxy=proxy, timeout=timeout
        )
