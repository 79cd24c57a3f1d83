"""The real `devskyy` console script against a real API process and Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.api.live_server import TOKENS, LiveApi, running_api
from tests.support.redis_server import RedisServer

DEVSKYY = str(Path(sys.executable).parent / "devskyy")

RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def cli_api(redis_server: RedisServer) -> Iterator[LiveApi]:
    with running_api(redis_server.url, rate_limit_per_minute="100000") as live:
        yield live


@pytest.fixture
def devskyy(cli_api: LiveApi, redis_url: str) -> RunCli:
    def run(
        *args: str, user: str = "alice", stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "DEVSKYY_API_URL": cli_api.url,
            "DEVSKYY_API_TOKEN": TOKENS[user],
            "DEVSKYY_USER": user,
        }
        return subprocess.run(
            [DEVSKYY, *args], env=env, input=stdin, capture_output=True, text=True, timeout=30
        )

    return run
