"""A real PostgreSQL for the tests (the devcluster's launcher: Debian's server,
own data directory, free loopback port, non-root), and fresh databases on it.

Each test gets its own database, copied from a template migrated once with the
real migrations (`devskyy-history migrate` runs the same Alembic upgrade).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from devskyy_devcluster.postgres import PostgresServer
from devskyy_operator.history.schema import migrate

TEMPLATE = "history_template"


def database_url(server: PostgresServer, name: str) -> str:
    return server.admin_url(name)


def create_template(server: PostgresServer) -> None:
    with psycopg.connect(server.admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    migrate(server.admin_url(TEMPLATE))


def fresh_database(server: PostgresServer, *, migrated: bool = True) -> str:
    """A new database (a copy of the migrated template, or empty); returns its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    template = f' TEMPLATE "{TEMPLATE}"' if migrated else ""
    with psycopg.connect(server.admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{template}')
    return server.admin_url(name)


@contextmanager
def running_postgres(logs: Path) -> Iterator[PostgresServer]:
    """Start a server with the migrated template; always stop and remove it."""
    with PostgresServer(logs) as server:
        create_template(server)
        yield server
