"""The history schema's migrations: Alembic, run by `devskyy-history migrate`
(the chart's pre-install/pre-upgrade hook Job) before any writer or API uses it."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def sqlalchemy_url(database_url: str) -> str:
    """DATABASE_URL (postgresql://, postgres://) for SQLAlchemy with psycopg 3."""
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ValueError("DATABASE_URL must be a postgresql:// URL")
    return f"postgresql+psycopg://{rest}"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = sqlalchemy_url(database_url)
    return config


def migrate(database_url: str, revision: str = "head") -> None:
    """Upgrade the schema to `revision` (idempotent: at head it does nothing)."""
    command.upgrade(alembic_config(database_url), revision)
