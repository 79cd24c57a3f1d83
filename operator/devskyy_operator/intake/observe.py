"""Per-request observation: one audit line and the request metrics.

A pure ASGI middleware (no BaseHTTPMiddleware overhead). Handlers put what they
know (user, task id, type, decision) into ``request.state``; the middleware adds
the status code and writes one line to the ``devskyy.audit`` logger. Tokens are
never in ``request.state``, so they cannot reach the log.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devskyy_agents.models import TASK_ID_RE
from devskyy_operator.metrics import ApiMetrics

audit_log = logging.getLogger("devskyy.audit")

AUDIT_FIELDS = ("user", "task_id", "task_type", "decision")


class ObserveMiddleware:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        for name in AUDIT_FIELDS:
            state[name] = None
        started = time.perf_counter()
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
            if route.startswith("/v1/"):
                if status == 404:
                    # The id asked for was not found: it is user input, maybe a
                    # pasted secret; the audit line keeps only that it missed.
                    state["task_id"], state["decision"] = None, "rejected: not found"
                audit_log.info(
                    "user=%s method=%s route=%s status=%d task=%s type=%s decision=%s",
                    state.get("user") or "-",
                    method,
                    route,
                    status,
                    _loggable_task_id(state.get("task_id")),
                    state.get("task_type") or "-",
                    state.get("decision") or ("ok" if status < 400 else "rejected"),
                )


def _loggable_task_id(value: object) -> str:
    """Only well-formed task ids reach the audit log: a path parameter is user
    input, and a token pasted in its place must not be written out."""
    if isinstance(value, str) and TASK_ID_RE.match(value):
        return value
    return "-" if not value else "<not-a-task-id>"
