"""A real PostgreSQL (Debian's `postgresql` package) with its own data directory,
on a free loopback port, as a non-root user: for `hack/up.sh` and the tests.

PostgreSQL refuses to run as root; run as root, the server runs as the package's
`postgres` user with its data in a directory of its own under /tmp (a root-only
work directory is not reachable for it). TCP on 127.0.0.1 only, password auth
(scram-sha-256), so clients use the same kind of URL as in production.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from devskyy_devcluster.launcher import free_port

USER = "devskyy"
DATABASE = "devskyy"
SERVICE_USER = "postgres"  # created by Debian's postgresql-common


def bin_dir() -> Path:
    """The newest installed server's bin directory (/usr/lib/postgresql/<version>/bin)."""
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not versions:
        raise FileNotFoundError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql "
            "(apt-get install postgresql; hack/setup.sh does)"
        )
    return versions[-1]


def _service_account() -> pwd.struct_passwd | None:
    """Whom the server runs as: None = this user (not root), else `postgres`."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise RuntimeError(f"running as root needs the {SERVICE_USER!r} user") from None


@dataclass
class PostgresServer:
    """One server; `start`, `stop` (fast shutdown) and `start` again keep the data."""

    logs: Path
    durable: bool = False  # fsync off unless asked: tests and the dev stack lose nothing real
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    process: subprocess.Popen[bytes] | None = None
    home: Path | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{DATABASE}"

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    @property
    def data(self) -> Path:
        assert self.home is not None
        return self.home / "data"

    @staticmethod
    def _ids() -> tuple[int | None, int | None]:
        account = _service_account()
        return (None, None) if account is None else (account.pw_uid, account.pw_gid)

    def init(self) -> PostgresServer:
        """initdb into a fresh directory owned by the server's user, then start and
        create the application database."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self.home = Path(tempfile.mkdtemp(prefix="devskyy-pg-"))
        account = _service_account()
        if account is not None:
            os.chown(self.home, account.pw_uid, account.pw_gid)
        pwfile = self.home / "pwfile"
        pwfile.write_text(self.password + "\n")
        if account is not None:
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        uid, gid = self._ids()
        with (self.logs / "initdb.log").open("ab") as log:
            subprocess.run(
                [str(bin_dir() / "initdb"), "-D", str(self.data), "-U", USER,
                 f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8",
                 "--locale=C.UTF-8", "--no-instructions"],
                stdout=log, stderr=subprocess.STDOUT, check=True, timeout=300,
                user=uid, group=gid,
            )  # fmt: skip
        pwfile.unlink()
        self.start()
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        return self

    def start(self) -> None:
        args = [
            str(bin_dir() / "postgres"), "-D", str(self.data), "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
            "-c", "max_connections=50", "-c", "shared_buffers=32MB",
        ]  # fmt: skip
        if not self.durable:
            args += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        uid, gid = self._ids()
        log = (self.logs / "postgres.log").open("ab")
        self.process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, user=uid, group=gid
        )  # fmt: skip
        log.close()
        self.await_ready()

    def await_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                tail = (self.logs / "postgres.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"postgres exited with {self.process.returncode}:\n{tail}")
            try:
                with psycopg.connect(self.admin_url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """Fast shutdown (SIGINT): clients are disconnected, the data stays."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def destroy(self) -> None:
        self.stop()
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None

    def __enter__(self) -> PostgresServer:
        try:
            return self.init()
        except BaseException:
            self.destroy()
            raise

    def __exit__(self, *exc: object) -> None:
        self.destroy()
