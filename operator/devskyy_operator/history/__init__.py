"""Stage 8, the long-term record: every task and transition in PostgreSQL.

The Lua scripts append each transition to a Redis stream as they make it
(`keys.HISTORY_STREAM`); the history writer (`devskyy-history`) drains the stream
with a consumer group into PostgreSQL, idempotently, so a database outage never
touches a task. The API and the CLI query the store.
"""
