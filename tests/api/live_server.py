"""A real `devskyy-api` process (uvicorn) on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from devskyy_operator.intake.auth import token_digest
from tests.support.ports import free_port

TOKENS = {
    "alice": "alice-secret-token",
    "bob": "bob-secret-token",
    "ops": "ops-secret-token",
    "watch": "watch-secret-token",
}
ROLES = {"ops": "admin", "watch": "operator"}


def api_tokens_setting() -> str:
    return ",".join(
        f"{user}:{token_digest(token)}" + (f":{ROLES[user]}" if user in ROLES else "")
        for user, token in TOKENS.items()
    )


@dataclass
class LiveApi:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


@contextmanager
def running_api(
    redis_url: str | None,
    log_path: Path | None = None,
    *,
    raw_env: dict[str, str] | None = None,
    **settings: str,
) -> Iterator[LiveApi]:
    """The API on a free port; its output goes to `log_path` when given. `raw_env`:
    variables as given (e.g. the seed's REDIS_URL, with redis_url None)."""
    port = free_port()
    env = {
        **os.environ,
        **({"DEVSKYY_REDIS_URL": redis_url} if redis_url is not None else {}),
        **(raw_env or {}),
        "DEVSKYY_API_TOKENS": api_tokens_setting(),
        "DEVSKYY_API_PORT": str(port),
        "DEVSKYY_API_HOST": "127.0.0.1",
        **{f"DEVSKYY_{name.upper()}": value for name, value in settings.items()},
    }
    with log_path.open("ab") if log_path else open(os.devnull, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "devskyy_operator.intake"],
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "devskyy-api exited"
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "devskyy-api did not start"
                time.sleep(0.05)
        yield LiveApi(url=url, process=process, log_path=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
