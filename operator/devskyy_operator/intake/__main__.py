"""`devskyy-api` / `python -m devskyy_operator.intake`: one uvicorn process."""

from __future__ import annotations

import uvicorn

from devskyy_agents.logs import configure_logging, log_environ
from devskyy_operator.intake.app import create_app
from devskyy_operator.settings import Settings


def serve() -> None:
    settings = Settings()
    configure_logging("api", environ=log_environ(settings))
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        loop="uvloop",
        http="httptools",
        access_log=False,  # the devskyy.audit line replaces it
        log_level="warning",
        server_header=False,
        proxy_headers=False,  # nothing reads the client address; saves a pass per request
    )


if __name__ == "__main__":
    serve()
