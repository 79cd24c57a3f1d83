"""`devskyy-api` / `python -m devskyy_operator.intake`: one uvicorn process.

SIGTERM (every rollout, drain, scale-down) is a clean stop: uvicorn stops
accepting, lets the requests in flight finish (at most api_stop_grace_seconds),
closes the Redis client, and the process exits 0 with one INFO line. Left alone,
uvicorn re-raises the signal once it is done, so the process would die "by
SIGTERM" (-15, a container exit code of 143) after a perfectly clean stop.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

import uvicorn

from devskyy_agents.logs import configure_logging, log_environ
from devskyy_operator.intake.app import create_app
from devskyy_operator.settings import Settings

log = logging.getLogger("devskyy.api")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def serve() -> None:
    settings = Settings()
    configure_logging("api", environ=log_environ(settings))
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host=settings.api_host,
            port=settings.api_port,
            loop="uvloop",
            http="httptools",
            access_log=False,  # the devskyy.audit line replaces it
            log_level="warning",
            server_header=False,
            proxy_headers=False,  # nothing reads the client address; saves a pass per request
            timeout_graceful_shutdown=settings.api_stop_grace_seconds,
        )
    )
    received: list[str] = []

    def note(sig: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(sig).name)

    # uvicorn handles the signals while it serves, restores these handlers when it
    # is done and then re-raises what it caught: they note it instead of dying.
    for sig in STOP_SIGNALS:
        signal.signal(sig, note)
    server.run()
    if not server.started:
        sys.exit(1)  # uvicorn logged why (port taken, lifespan startup failed)
    log.info(
        "devskyy api stopped on %s: requests in flight finished",
        received[0] if received else "request",
    )


if __name__ == "__main__":
    serve()
