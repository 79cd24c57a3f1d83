"""A real HTTP server on loopback for provider fakes, with scripted faults.

Each provider subclasses `Provider` and implements `route`. Tests queue faults
(`fail_next`) that the next matching requests answer with instead: a status with
headers (401, 429 + Retry-After, 500), malformed JSON, a hang that only ends
when the client gives up or the server stops, or a dropped connection (no answer
at all). A `route` may also return `Reply.dropped()`: the effect happened, the
answer is lost, as when a connection dies between server and client.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

HANG_LIMIT = 30.0
RETRY_NOW = {"Retry-After": "0"}  # headers of a fault the client may retry at once


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection instead of answering

    @classmethod
    def dropped(cls) -> Reply:
        return cls(drop=True)

    @classmethod
    def json(cls, data: Any, status: int = 200, **headers: str) -> Reply:
        return cls(
            status, json.dumps(data).encode(), {"Content-Type": "application/json", **headers}
        )


@dataclass
class Fault:
    kind: str  # "status" | "malformed" | "hang" | "drop"
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    path_prefix: str = ""
    method: str = ""  # any method when empty

    def matches(self, request: Request) -> bool:
        return request.path.startswith(self.path_prefix) and self.method in ("", request.method)


class Provider:
    """Base of the fakes: records requests, applies queued faults, then routes."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.faults: deque[Fault] = deque()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.url = ""

    def fail_next(
        self,
        kind: str,
        status: int = 500,
        times: int = 1,
        path_prefix: str = "",
        headers: dict[str, str] | None = None,
        method: str = "",
    ) -> None:
        with self.lock:
            for _ in range(times):
                self.faults.append(Fault(kind, status, dict(headers or {}), path_prefix, method))

    def _take_fault(self, request: Request) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(request):
                    self.faults.remove(fault)
                    return fault
        return None

    def handle(self, request: Request) -> Reply:
        with self.lock:
            self.requests.append(request)
        fault = self._take_fault(request)
        if fault is not None:
            if fault.kind == "hang":
                self.stopping.wait(HANG_LIMIT)
                return Reply(504)
            if fault.kind == "drop":
                return Reply.dropped()
            if fault.kind == "malformed":
                return Reply(200, b'{"code": 0, "data": {', {"Content-Type": "application/json"})
            return Reply.json(
                {"error": "injected", "code": fault.status}, fault.status, **fault.headers
            )
        return self.route(request)

    def route(self, request: Request) -> Reply:
        raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            self.command,
            parts.path,
            parse_qs(parts.query),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        reply = self.server.provider.handle(request)
        if reply.drop:
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, provider: Provider, host: str) -> None:
        super().__init__((host, 0), _Handler)
        self.provider = provider


P = TypeVar("P", bound=Provider)


@contextmanager
def serving(provider: P, host: str = "127.0.0.1") -> Iterator[P]:
    """Run the provider on a free port; stop it (and any hang) on exit.

    `host` is loopback for clients on this host; task pods reach the host at
    the cluster's `host_address` (the host end of the node's link).
    """
    server = _Server(provider, host)
    provider.url = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield provider
    finally:
        provider.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def bearer(request: Request) -> str:
    value = request.headers.get("authorization", "")
    return value[7:] if value.lower().startswith("bearer ") else ""
