"""`devskyy-history`: the history writer (`run`, the default) and its schema (`migrate`).

`migrate` upgrades the PostgreSQL schema and creates the stream's consumer group,
so the scripts record transitions from the first install on (the chart runs it as
a pre-install/pre-upgrade hook Job). `run` drains the stream into PostgreSQL and
applies retention; SIGTERM finishes the batch in hand (unacknowledged entries
are redelivered to the next writer, never lost, never duplicated).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Sequence

from prometheus_client import start_http_server

from devskyy_agents.logs import configure_logging, log_environ
from devskyy_operator.health import serve_health
from devskyy_operator.history.retention import run_retention
from devskyy_operator.history.schema import migrate
from devskyy_operator.history.writer import HistoryWriter, ensure_group
from devskyy_operator.redisq.scripts import connect, disconnect
from devskyy_operator.settings import Settings

log = logging.getLogger("devskyy.history")


def database_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise SystemExit("devskyy-history: DATABASE_URL is not set")
    return settings.database_url.get_secret_value()


async def run(settings: Settings) -> int:
    url = database_url(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    redis = connect(settings.redis_url.get_secret_value(), socket_timeout=10.0)
    consumer = settings.history_consumer or socket.gethostname()
    writer = HistoryWriter(redis, url, settings, consumer)
    health = await serve_health(settings.health_port, lambda: writer.ready, "group")
    retention = asyncio.ensure_future(run_retention(url, settings, stop))
    try:
        await writer.run(stop)
    finally:
        stop.set()
        await asyncio.gather(retention, return_exceptions=True)
        await disconnect(redis)
        with contextlib.suppress(Exception):
            await health.cleanup()
    log.info("devskyy history writer stopped")
    return 0


async def prepare_stream(settings: Settings) -> None:
    redis = connect(settings.redis_url.get_secret_value(), socket_timeout=10.0)
    try:
        await ensure_group(redis)
    finally:
        await disconnect(redis)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="devskyy-history", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["run", "migrate"], default="run")
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging("history", environ=log_environ(settings))
    logging.getLogger().setLevel(logging.INFO)
    if args.command == "migrate":
        migrate(database_url(settings))
        asyncio.run(prepare_stream(settings))
        log.info("history schema at head; stream group ready")
        return
    start_http_server(settings.metrics_port)
    log.info("devskyy history writer starting")
    raise SystemExit(asyncio.run(run(settings)))


if __name__ == "__main__":
    main()
