"""Tasks and their transitions.

`tasks` holds one row per task (its latest state, upserted from events);
`task_events` one row per transition, keyed by the Redis stream entry id, so a
redelivered entry can never become a second row. The indexes serve the API's
queries: newest first (created_at, task_id) overall, per user, per type and per
status; a task's events in stream order; retention by last change.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE tasks (
            task_id          text PRIMARY KEY,
            user_id          text NOT NULL,
            task_type        text NOT NULL,
            priority         integer,
            status           text NOT NULL,
            status_rank      smallint NOT NULL,
            cancelled        boolean NOT NULL DEFAULT false,
            source           text,
            input            jsonb,
            created_at       timestamptz NOT NULL,
            admitted_at      timestamptz,
            started_at       timestamptz,
            completed_at     timestamptz,
            attempts         integer,
            reason           text,
            error            text,
            error_type       text,
            exit_code        integer,
            result           jsonb,
            resources        jsonb,
            run_seconds      double precision,
            worker_host      text,
            retry_of         text,
            retried_as       text,
            dead_lettered_at timestamptz,
            updated_at       timestamptz NOT NULL
        )
        """
    )
    for name, columns in (
        ("tasks_created", "created_at DESC, task_id DESC"),
        ("tasks_user_created", "user_id, created_at DESC, task_id DESC"),
        ("tasks_type_created", "task_type, created_at DESC, task_id DESC"),
        ("tasks_status_created", "status, created_at DESC, task_id DESC"),
        ("tasks_updated", "updated_at"),
    ):
        op.execute(f"CREATE INDEX {name} ON tasks ({columns})")
    op.execute(
        """
        CREATE TABLE task_events (
            event_id     text PRIMARY KEY,
            stream_ms    bigint NOT NULL,
            stream_seq   bigint NOT NULL,
            task_id      text NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
            kind         text NOT NULL,
            occurred_at  timestamptz NOT NULL,
            user_id      text NOT NULL,
            task_type    text NOT NULL,
            priority     integer,
            attempts     integer,
            reason       text,
            error        text,
            error_type   text,
            exit_code    integer,
            result       jsonb,
            resources    jsonb,
            run_seconds  double precision,
            worker_host  text,
            detail       jsonb NOT NULL DEFAULT '{}'::jsonb
        )
        """
    )
    op.execute("CREATE INDEX task_events_task ON task_events (task_id, stream_ms, stream_seq)")


def downgrade() -> None:
    op.execute("DROP TABLE task_events")
    op.execute("DROP TABLE tasks")
