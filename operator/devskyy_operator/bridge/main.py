"""`devskyy-bridge`: the informer, the claim loop, the sweeper and the schedule sync.

Startup: settings -> logging -> /metrics and /healthz -> clients -> loops.
SIGTERM/SIGINT (every rollout, drain, scale-down) is a clean stop: no new
claims; the cycle in progress finishes its creates and releases (for at most
`bridge_stop_grace_seconds`); every claim still held goes back to the queue at once; the
sweeper finishes its pass; one INFO line; exit code 0. Even after SIGKILL
nothing is lost: leases left behind expire and any bridge re-claims them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import start_http_server

from devskyy_agents.logs import configure_logging, log_environ
from devskyy_operator.bridge.bridge import Bridge
from devskyy_operator.bridge.informer import TaskInformer
from devskyy_operator.bridge.schedules import ScheduleSync
from devskyy_operator.bridge.sweeper import Sweeper
from devskyy_operator.health import serve_health
from devskyy_operator.kube.client import KubeClient
from devskyy_operator.redisq.scripts import connect, disconnect
from devskyy_operator.settings import Settings
from devskyy_operator.shutdown import StopRequest

log = logging.getLogger("devskyy.bridge")


async def run(settings: Settings) -> int:
    stop = StopRequest()
    stop.install()
    kube = KubeClient.from_env(settings.kubeconfig)
    redis = connect(settings.redis_url.get_secret_value(), socket_timeout=10.0)
    informer = TaskInformer(kube, settings.namespace, settings.watch_timeout_seconds)
    health = await serve_health(settings.health_port, informer.synced.is_set, "synced")
    bridge = Bridge(kube, redis, settings, informer)
    sweeper = Sweeper(kube, redis, settings, informer, grace_seconds=settings.sweep_grace_seconds)
    watching = asyncio.ensure_future(informer.run(stop.event))
    sweeping = asyncio.ensure_future(sweeper.run(stop.event, settings.sweep_interval_seconds))
    scheduling = asyncio.ensure_future(ScheduleSync(kube, redis, settings).run(stop.event))
    handed_back: int | None = None
    try:
        await bridge.run(stop.event)  # returns after the cycle in progress once stop is set
        try:
            handed_back = await bridge.hand_back()
        except Exception as exc:  # Redis gone: the leases expire and are re-claimed
            log.warning("claims not handed back (%s); their leases expire on their own", exc)
        # The sweeper ends after the pass in progress; the informer is only a cache.
        await asyncio.wait([sweeping], timeout=settings.bridge_stop_grace_seconds)
    finally:
        stop.event.set()
        for task in (watching, sweeping, scheduling):
            task.cancel()
        await asyncio.gather(watching, sweeping, scheduling, return_exceptions=True)
        await kube.close()
        await disconnect(redis)
        with contextlib.suppress(Exception):
            await health.cleanup()
    log.info(
        "devskyy bridge stopped on %s: %s claims handed back to the queue",
        stop.cause, "no" if handed_back is None else handed_back,
    )  # fmt: skip
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
