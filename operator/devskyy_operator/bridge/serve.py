"""/healthz (the process is alive) and /readyz (the task cache is synced) for probes."""

from __future__ import annotations

import asyncio

from aiohttp import web


async def serve_health(port: int, synced: asyncio.Event) -> web.AppRunner:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True, "synced": synced.is_set()})

    async def readyz(_: web.Request) -> web.Response:
        ready = synced.is_set()
        return web.json_response({"synced": ready}, status=200 if ready else 503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()  # noqa: S104 - probed by the kubelet
    return runner
