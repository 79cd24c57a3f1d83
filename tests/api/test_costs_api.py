"""GET /v1/costs against real Redis: finished tasks' costs, written by the task
hash's finishing script into the cost index, summed per user and per type with
the API's scoping (a user: their own; operator/admin: everyone's)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from devskyy_agents.clock import utc_iso
from devskyy_agents.usage import UsageLine
from devskyy_operator.cost.compute import task_cost
from devskyy_operator.cost.model import TaskCost
from devskyy_operator.cost.money import format_micros
from devskyy_operator.redisq import connect
from devskyy_operator.redisq.scripts import disconnect
from devskyy_operator.redisq.task_store import WriteOutcome, mark_completed, mark_failed
from devskyy_operator.settings import Settings
from tests.api.conftest import auth
from tests.api.test_tasks_api import diagnostic
from tests.support.lifetimes import FINISH

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

PRICES = Settings().cost
RETENTION = {"cost_retention_seconds": PRICES.index_retention_seconds}


def cost(seconds: float, input_tokens: int = 0) -> TaskCost:
    usage = [UsageLine(provider="openai", model="gpt-4o-mini", calls=1, input_tokens=input_tokens)]
    return task_cost({"cpu": "1", "memory": "1Gi"}, seconds, usage if input_tokens else [], PRICES)


async def enqueue(api: httpx.AsyncClient, user: str) -> str:
    response = await api.post("/v1/tasks", json=diagnostic(user), headers=auth("ops"))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def test_costs_are_summed_per_user_and_type_and_scoped(
    api: httpx.AsyncClient, redis_url: str
) -> None:
    now = time.time()
    alice_1, alice_2, bob_1, old = [
        await enqueue(api, user) for user in ("alice", "alice", "bob", "alice")
    ]
    costs = {alice_1: cost(60, 10_000), alice_2: cost(30), bob_1: cost(90, 5_000), old: cost(600)}
    client = connect(redis_url)
    try:
        for task_id in (alice_1, bob_1):
            written = await mark_completed(client, task_id, "{}", utc_iso(), **FINISH,
                                           cost=costs[task_id], **RETENTION, now=now)  # fmt: skip
            assert written is WriteOutcome.OK
        await mark_failed(client, alice_2, "boom", completed_at=utc_iso(), **FINISH,
                          cost=costs[alice_2], **RETENTION, now=now)  # fmt: skip
        await mark_completed(client, old, "{}", utc_iso(), **FINISH, cost=costs[old],
                             **RETENTION, now=now - 7200)  # fmt: skip
        # A replayed outcome writes nothing, so it is not summed twice.
        again = await mark_completed(client, alice_1, "{}", utc_iso(), **FINISH,
                                     cost=costs[alice_1], **RETENTION, now=now)  # fmt: skip
        assert again is WriteOutcome.TERMINAL
    finally:
        await disconnect(client)

    def total(*ids: str) -> str:
        return format_micros(sum(costs[i].total_micros for i in ids))

    since = {"since": utc_iso(datetime.fromtimestamp(now - 3600, UTC))}
    by_user = await api.get("/v1/costs", params={**since, "group_by": "user"}, headers=auth("ops"))
    assert by_user.status_code == 200, by_user.text
    body = by_user.json()
    groups = {g["key"]: (g["total"], g["tasks"]) for g in body["groups"]}
    assert groups == {"alice": (total(alice_1, alice_2), 2), "bob": (total(bob_1), 1)}
    assert (body["total"], body["tasks"], body["currency"]) == (
        total(alice_1, alice_2, bob_1), 3, PRICES.currency,
    )  # fmt: skip
    assert Decimal(body["total"]) > 0

    everything = (await api.get("/v1/costs", headers=auth("watch"))).json()  # operator role
    assert everything["groups"] == [
        {"key": "diagnostic", "total": total(alice_1, alice_2, bob_1, old), "tasks": 4}
    ]

    mine = await api.get("/v1/costs", params={**since, "group_by": "user"}, headers=auth("alice"))
    assert [(g["key"], g["total"]) for g in mine.json()["groups"]] == [
        ("alice", total(alice_1, alice_2))
    ]
    one = await api.get("/v1/costs", params={"user_id": "bob"}, headers=auth("ops"))
    assert one.json()["total"] == total(bob_1)
    refused = await api.get("/v1/costs", params={"user_id": "bob"}, headers=auth("alice"))
    assert refused.status_code == 403

    view = (await api.get(f"/v1/tasks/{alice_1}", headers=auth("alice"))).json()
    assert view["cost"]["total"] == costs[alice_1].total
    assert view["cost"]["provider_lines"][0]["input_tokens"] == 10_000


async def test_bad_ranges_and_groupings_name_the_field(api: httpx.AsyncClient) -> None:
    backwards = {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    response = await api.get("/v1/costs", params=backwards, headers=auth("alice"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.until"
    response = await api.get("/v1/costs", params={"group_by": "model"}, headers=auth("alice"))
    assert response.status_code == 422
    assert "group_by" in response.text
    assert (await api.get("/v1/costs")).status_code == 401
