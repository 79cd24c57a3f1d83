"""A task's cost: the record (`cost`, as in the CR status and the Redis hash) and its
total in micro-units (`cost_micros`) so sums per user or type stay exact in SQL.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE tasks ADD COLUMN cost jsonb, ADD COLUMN cost_micros bigint")


def downgrade() -> None:
    op.execute("ALTER TABLE tasks DROP COLUMN cost, DROP COLUMN cost_micros")
