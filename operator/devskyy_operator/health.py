"""Probe endpoints of the long-running components: /healthz (alive) and /readyz.

One implementation for the operator (ready = holds the leader Lease) and the
bridge (ready = its task cache is synced).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web


async def serve_health(port: int, ready: Callable[[], bool], what: str) -> web.AppRunner:
    """Serve the probes on `port`; `what` names the readiness condition in the JSON."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True, what: ready()})

    async def readyz(_: web.Request) -> web.Response:
        state = ready()
        return web.json_response({what: state}, status=200 if state else 503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()  # noqa: S104 - probed by the kubelet
    return runner
