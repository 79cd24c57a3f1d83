"""A real redis-server (Debian package) on a free loopback port.

`also_on` adds addresses to listen on: the cluster's `host_address`, for pods
(in-cluster components of the Helm test) that reach Redis on the host. Such a
server requires a password, as Redis' protected mode does for any non-loopback
client (and as a real deployment would).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.support.ports import free_port


@dataclass
class RedisServer:
    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    appendonly: bool
    also_on: tuple[str, ...] = ()
    password: str = ""

    @property
    def url(self) -> str:
        return self.url_at("127.0.0.1")

    def url_at(self, host: str) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{host}:{self.port}/0"

    def client(self) -> redis.Redis[str]:
        return redis.Redis.from_url(self.url, decode_responses=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        """Stop (SIGKILL) and start again on the same port and data directory."""
        self.kill()
        self.process = _spawn(
            self.port, self.directory, self.appendonly, self.also_on, self.password
        )
        _await_ping(self.port, self.process, self.password)


def _spawn(
    port: int, directory: Path, appendonly: bool, also_on: tuple[str, ...] = (), password: str = ""
) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    args = [
        binary,
        "--port",
        str(port),
        "--bind",
        " ".join(("127.0.0.1", *also_on)),
        "--dir",
        str(directory),
        "--save",
        "",
        "--appendonly",
        "yes" if appendonly else "no",
        "--appendfsync",
        "always",
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
        "--loglevel",
        "warning",
        *(["--requirepass", password] if password else []),
    ]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _await_ping(
    port: int, process: subprocess.Popen[bytes], password: str = "", timeout: float = 20.0
) -> None:
    client = redis.Redis(host="127.0.0.1", port=port, password=password or None)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}")
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
    finally:
        client.close()


@contextmanager
def running_redis(
    directory: Path, appendonly: bool = True, also_on: tuple[str, ...] = ()
) -> Iterator[RedisServer]:
    """Start redis-server; always stop it, even when the test fails."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    password = secrets.token_hex(16) if also_on else ""
    process = _spawn(port, directory, appendonly, also_on, password)
    server = RedisServer(port, directory, process, appendonly, also_on, password)
    try:
        _await_ping(port, process, password)
        yield server
    finally:
        server.kill()
