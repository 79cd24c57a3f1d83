"""`devskyy-bridge`: the informer, the claim loop and the sweeper in one process.

Startup: settings -> logging -> /metrics and /healthz -> clients -> loops.
SIGTERM/SIGINT stops claiming; the cycle in progress finishes its creates and
releases, then the loops stop and the clients close. Leases of anything left
unfinished expire and are re-claimed by any bridge, so even SIGKILL loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from prometheus_client import start_http_server

from devskyy_agents.logs import configure_logging, log_environ
from devskyy_operator.bridge.bridge import Bridge
from devskyy_operator.bridge.informer import TaskInformer
from devskyy_operator.bridge.sweeper import Sweeper
from devskyy_operator.health import serve_health
from devskyy_operator.kube.client import KubeClient
from devskyy_operator.redisq.scripts import connect, disconnect
from devskyy_operator.settings import Settings

log = logging.getLogger("devskyy.bridge")


async def run(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    kube = KubeClient.from_env(settings.kubeconfig)
    redis = connect(settings.redis_url.get_secret_value(), socket_timeout=10.0)
    informer = TaskInformer(kube, settings.namespace, settings.watch_timeout_seconds)
    health = await serve_health(settings.health_port, informer.synced.is_set, "synced")
    bridge = Bridge(kube, redis, settings, informer)
    sweeper = Sweeper(kube, redis, settings, informer, grace_seconds=settings.sweep_grace_seconds)
    background = [
        asyncio.ensure_future(informer.run(stop)),
        asyncio.ensure_future(sweeper.run(stop, settings.sweep_interval_seconds)),
    ]
    try:
        await bridge.run(stop)  # returns after the cycle in progress once stop is set
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await kube.close()
        await disconnect(redis)
        with contextlib.suppress(Exception):
            await health.cleanup()
    log.info("devskyy bridge stopped")
    return 0


def main() -> None:
    settings = Settings()
    configure_logging("bridge", environ=log_environ(settings))
    logging.getLogger().setLevel(logging.INFO)
    start_http_server(settings.metrics_port)
    log.info(
        "devskyy bridge starting in namespace %s (window %d per type)",
        settings.namespace, settings.bridge_window,
    )  # fmt: skip
    raise SystemExit(asyncio.run(run(settings)))


if __name__ == "__main__":
    main()
