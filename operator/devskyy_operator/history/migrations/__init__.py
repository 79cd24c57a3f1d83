"""Alembic migrations of the history schema (run by `devskyy-history migrate`)."""
