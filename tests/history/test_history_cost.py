"""A finished task's cost reaches the history store (migration 0002): the record as
the CR status and the Redis hash hold it, and its total in micro-units."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from devskyy_agents.clock import utc_iso
from devskyy_agents.usage import UsageLine
from devskyy_operator.cost.compute import task_cost
from devskyy_operator.deadletter.final_failure import record_final_failure
from devskyy_operator.deadletter.record import FinalFailure
from devskyy_operator.redisq import Redis, task_store
from tests.history.conftest import rows, running_writer
from tests.history.lifecycle import LIFETIMES, RESOURCES, SETTINGS, queued
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_costs_of_successes_and_failures_are_kept(
    aredis: Redis, redis_url: str, database_url: str
) -> None:
    usage = [UsageLine(provider="openai", model="gpt-4o-mini", calls=1, input_tokens=900,
                       output_tokens=300)]  # fmt: skip
    paid = task_cost({"cpu": "100m", "memory": "128Mi"}, 9.5, usage, SETTINGS.cost)
    lost = task_cost({"cpu": "100m", "memory": "128Mi"}, 60.0, [], SETTINGS.cost)
    ok, bad = await queued(aredis, "alice"), await queued(aredis, "bob")
    for task_id in (ok, bad):
        await task_store.mark_admitted(aredis, task_id, utc_iso(), RESOURCES)
        await task_store.mark_processing(aredis, task_id, "2026-01-05T12:00:00Z", "node-a", 1)
    await task_store.mark_completed(
        aredis, ok, "{}", "2026-01-05T12:00:09.500000Z", **LIFETIMES, cost=paid,
        cost_retention_seconds=SETTINGS.cost.index_retention_seconds,
    )  # fmt: skip
    failure = FinalFailure(
        task_id=bad, task_type="diagnostic", user_id="bob", namespace="default",
        task_data={"user_id": "bob"}, reason="BackoffLimitExceeded", error="boom",
        error_type="ProviderError", failed_at=datetime(2026, 1, 5, 12, 1, tzinfo=UTC),
    )  # fmt: skip
    assert await record_final_failure(aredis, replace(failure, cost=lost), SETTINGS)

    async with running_writer(redis_url, database_url):

        async def costed() -> bool:
            found = await rows(database_url, "SELECT task_id FROM tasks WHERE cost IS NOT NULL")
            return len(found) == 2

        await eventually(costed, timeout=20, what="both costs in PostgreSQL")
    tasks = {r["task_id"]: r for r in await rows(database_url, "SELECT * FROM tasks")}
    assert tasks[ok]["cost"] == paid.model_dump(mode="json")
    assert tasks[ok]["cost_micros"] == paid.total_micros
    assert tasks[bad]["cost"]["total"] == lost.total
    assert tasks[bad]["cost_micros"] == lost.total_micros
    (summed,) = await rows(database_url, "SELECT sum(cost_micros) AS micros FROM tasks")
    assert summed["micros"] == paid.total_micros + lost.total_micros
