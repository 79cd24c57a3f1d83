"""`devskyy costs` end to end: the console script, a real API process and Redis."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from devskyy_agents.clock import utc_iso
from devskyy_operator.cli.costs import since_value
from devskyy_operator.cost.compute import task_cost
from devskyy_operator.cost.money import format_micros
from devskyy_operator.redisq import connect
from devskyy_operator.redisq.scripts import disconnect
from devskyy_operator.redisq.task_store import mark_completed
from devskyy_operator.settings import Settings
from tests.cli.conftest import RunCli
from tests.support.lifetimes import FINISH

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_a_span_becomes_the_time_that_long_ago() -> None:
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    assert since_value("24h", now) == utc_iso(now - timedelta(hours=24))
    assert since_value("90m", now) == utc_iso(now - timedelta(minutes=90))
    assert since_value("2026-01-01T00:00:00Z", now) == "2026-01-01T00:00:00Z"


async def test_costs_per_type_and_user(devskyy: RunCli, redis_url: str) -> None:
    ids = [json.loads(devskyy("--json", "enqueue", "-t", "diagnostic").stdout)["id"] for _ in "ab"]
    prices = Settings().cost
    costs = [task_cost({"cpu": "2", "memory": "4Gi"}, s, [], prices) for s in (120.0, 240.0)]
    client = connect(redis_url)
    try:
        for task_id, cost in zip(ids, costs, strict=True):
            await mark_completed(
                client, task_id, "{}", utc_iso(), **FINISH, cost=cost,
                cost_retention_seconds=prices.index_retention_seconds,
            )  # fmt: skip
    finally:
        await disconnect(client)
    expected = format_micros(sum(c.total_micros for c in costs))

    shown = devskyy("costs", "--since", "1h")
    assert shown.returncode == 0, shown.stderr
    lines = [line.split() for line in shown.stdout.splitlines()]
    assert lines[1] == ["TYPE", "TASKS", "TOTAL"]
    assert lines[2] == ["diagnostic", "2", expected]
    assert lines[3] == ["TOTAL", "2", expected]
    assert "USD" in shown.stdout

    by_user = json.loads(devskyy("--json", "costs", "--group-by", "user").stdout)
    assert by_user["groups"] == [{"key": "alice", "total": expected, "tasks": 2}]
    refused = devskyy("costs", "-u", "bob")
    assert refused.returncode == 1
    assert "HTTP 403" in refused.stderr
