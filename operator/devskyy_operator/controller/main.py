"""`devskyy-operator`: wait for the Lease, then watch tasks and Jobs until SIGTERM.

Sharded (`Settings.shards` > 1): wait for a shard Lease instead, act on the
tasks of the shards held (controller.shards); the Leases rebalance while running.

Startup order: settings -> logging -> health and metrics endpoints -> clients ->
leader election -> kopf + admission + resync + retention loops.

Stop on SIGTERM/SIGINT (every rollout, drain and scale-down): admit nothing
more and finish the Job creations in flight, stop the resync and retention
loops, then stop kopf (its handlers get kopf's exit timeout to finish the
events they hold), then stop renewing and release the Lease, so a standby
leads on its next attempt instead of after the lease duration. Running Jobs
are left to run: status is level-based, the next leader records their outcome.
One INFO line, exit code 0. Exit code 1 only when leadership was lost or a
loop failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import uuid
from typing import Any

import kopf
import uvloop
from kopf._core.engines.peering import Identity  # the NewType kopf.operator() takes
from prometheus_client import start_http_server

from devskyy_agents.logs import configure_logging, log_environ
from devskyy_operator.controller.handlers import register
from devskyy_operator.controller.runtime import Runtime
from devskyy_operator.controller.schedules import ScheduleController, register_schedules
from devskyy_operator.controller.shards import ShardKeeper
from devskyy_operator.controller.sla_timer import publish_objectives
from devskyy_operator.controller.workflows import WorkflowController, register_workflows
from devskyy_operator.health import serve_health
from devskyy_operator.kube.client import KubeClient
from devskyy_operator.redisq.scripts import Redis, connect, disconnect
from devskyy_operator.settings import Settings
from devskyy_operator.shutdown import StopRequest

log = logging.getLogger("devskyy.operator")


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf deep-copies every event's body into a diff base for change handlers
    (on.create/update/field); we register only on.event handlers, which never
    look at it. Measured: 6-7 % of the operator's CPU under a burst, for nothing.
    No essence at all (None, not {}): kopf then skips clearing its progress
    fields out of it and diffs None against None (its constant empty diff),
    1.2 % of the operator's samples in a backlog's admission."""

    def build(self, *, body: Any, extra_fields: Any = None) -> Any:
        return None

    def fetch(self, *, body: Any) -> None:
        return None

    def store(self, *, body: Any, patch: Any, essence: Any) -> None:
        return None


def configure_kopf(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    @kopf.on.startup(registry=registry)
    def tune(settings: kopf.OperatorSettings, **_: object) -> None:
        # Explicit watch timeouts: a watch that silently stops is the failure mode
        # of nolar/kopf#585; the server ends each watch and kopf reconnects.
        settings.watching.server_timeout = app_settings.watch_timeout_seconds
        settings.watching.client_timeout = app_settings.watch_timeout_seconds + 30
        settings.watching.connect_timeout = 30
        settings.networking.request_timeout = 60
        settings.posting.level = logging.WARNING
        settings.peering.standalone = True  # the Lease gates this process instead
        # We watch one namespace and know our resources: no cluster-wide scans,
        # which a namespaced Role rightly forbids.
        settings.scanning.disabled = True
        settings.persistence.diffbase_storage = NoDiffBase()

    app_settings = settings


async def run(settings: Settings) -> int:
    stop = StopRequest()
    stop.install()
    state = {"leader": False}
    health = await serve_health(settings.health_port, lambda: state["leader"], "leader")
    kube = KubeClient.from_env(settings.kubeconfig)
    redis = connect(settings.redis_url.get_secret_value())
    identity = f"{os.environ.get('HOSTNAME') or socket.gethostname()}-{uuid.uuid4().hex[:6]}"
    elector = ShardKeeper(kube, settings.namespace, identity, settings.shards)
    released = False
    try:
        if not await elector.acquire(stop.event):
            log.info("devskyy operator stopped on %s while standing by", stop.cause)
            return 0
        state["leader"] = True
        failures = await lead(settings, kube, redis, identity, elector, stop)
        state["leader"] = False
        for failure in failures:
            log.error("operator loop failed", exc_info=failure)
        if elector.lost or failures:
            return 1
        released = await elector.release_all()
    finally:
        state["leader"] = False
        await kube.close()
        await disconnect(redis)
        with contextlib.suppress(Exception):
            await health.cleanup()
    log.info(
        "devskyy operator stopped on %s: in-flight admissions finished, lease %s",
        stop.cause, "released" if released else "left to expire",
    )  # fmt: skip
    return 0


async def lead(
    settings: Settings,
    kube: KubeClient,
    redis: Redis,
    identity: str,
    elector: ShardKeeper,
    stop: StopRequest,
) -> list[BaseException]:
    """Act on the held shards until a stop or a lost Lease; the failures of the loops."""
    runtime = Runtime(kube, redis, settings, shards=elector.view)
    schedules = ScheduleController(kube, settings, active=lambda: elector.view.leads_singletons)

    def acquired(shard: int) -> None:
        runtime.catch_up(shard)
        schedules.wake.set()  # shard 0 may have come with it

    elector.before_release, elector.on_acquired = runtime.quiesce, acquired
    registry = kopf.OperatorRegistry()
    register(registry)
    register_schedules(registry)
    register_workflows(registry)
    configure_kopf(registry, settings)
    kopf_stop, renew_stop = asyncio.Event(), asyncio.Event()
    keeper = asyncio.ensure_future(elector.keep(renew_stop, lost=stop.event))
    try:
        # On its way out kopf cancels every task that appeared after it started;
        # the keeper is older, and the loops below are done before kopf stops.
        existing = set(asyncio.all_tasks())
        kopf_roots = await kopf.spawn_tasks(
            registry=registry,
            namespaces=[settings.namespace],
            standalone=True,
            # kopf would ask getpass for a name; uid 10001 in the image has none.
            identity=Identity(identity),
            stop_flag=kopf_stop,
            memo=kopf.Memo(
                runtime=runtime,
                schedules=schedules,
                workflows=WorkflowController(kube, redis, settings.task_record_ttl_seconds),
            ),
        )
        stop.install()  # kopf took SIGTERM/SIGINT for itself: the stop order is ours
        operator = asyncio.ensure_future(kopf.run_tasks(kopf_roots, ignored=existing))
        work = [
            asyncio.ensure_future(runtime.admitter.run(stop.event)),
            asyncio.ensure_future(runtime.resync_loop(stop.event)),
            asyncio.ensure_future(runtime.retention_loop(stop.event)),
            asyncio.ensure_future(runtime.sla.run(stop.event)),
            asyncio.ensure_future(runtime.pod_watch_loop(stop.event)),
            asyncio.ensure_future(runtime.job_loop(stop.event)),
            asyncio.ensure_future(schedules.run(stop.event)),
        ]
        stopped = asyncio.ensure_future(stop.event.wait())
        await asyncio.wait([stopped, operator], return_when=asyncio.FIRST_COMPLETED)
        stop.event.set()  # kopf may have ended on its own: everything stops with it
        results = await asyncio.gather(*work, return_exceptions=True)
        kopf_stop.set()
        results += await asyncio.gather(operator, return_exceptions=True)
    finally:
        renew_stop.set()  # renewed until everything the Lease guards has stopped
        results_keeper = await asyncio.gather(keeper, return_exceptions=True)
    return [r for r in [*results, *results_keeper] if isinstance(r, BaseException)]


def tune_gc() -> None:
    """Collect less often, and never again over what startup built.

    The modules, classes and settings (~80,000 objects) are frozen out of the
    collector, and the youngest generation waits for 20,000 allocations instead
    of 700: the operator's garbage is mostly acyclic (decoded watch events, freed
    by reference counting), yet with the defaults a 1,000-task run made ~850
    collections, 7 of them full, which took 10 % of its CPU (bench_operator.py
    with a gc callback); after this, a handful."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 10)


# kopf's logger for what it does per object (its handler outcomes).
KOPF_OBJECT_LOGGER = "kopf.objects"


def quiet_kopf_successes() -> None:
    """Keep kopf's per-object lines to warnings and errors, unless LOG_LEVEL is DEBUG.

    kopf logs "Handler 'task_event' succeeded." at INFO for every event it hands
    a handler: three lines per task, 60 % of the operator's log at the deployed
    level, saying nothing our own lines do not (and ≈ 19 µs of CPU each). A
    handler that fails is still logged: kopf logs that at ERROR."""
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger(KOPF_OBJECT_LOGGER).setLevel(logging.WARNING)


def main() -> None:
    settings = Settings()
    configure_logging("operator", environ=log_environ(settings))
    quiet_kopf_successes()
    start_http_server(settings.metrics_port)
    publish_objectives(settings)
    log.info("devskyy operator starting in namespace %s", settings.namespace)
    # uvloop, as kopf's own `kopf run` uses when installed: the asyncio loop's
    # Python (selector, callback dispatch) was ~12 % of the operator's samples.
    tune_gc()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        raise SystemExit(runner.run(run(settings)))


if __name__ == "__main__":
    main()
