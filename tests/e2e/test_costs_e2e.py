"""Cost attribution end to end on the local cluster: a marketing_campaign whose pod
calls the loopback OpenAI server (known token usage, through the real openai SDK)
and a diagnostic task run as Jobs; the operator prices them with the prices it
was configured with (not the defaults). Their cost in the CR status and the Redis
record equals the usage x the model's prices plus the Job's requested CPU and
memory x the run time the status recorded x the resource prices, and
GET /v1/costs sums them per type and per user.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis

from devskyy_agents.clock import utc_iso
from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.crd.task_view import parse_time
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.quantity import parse_quantity
from tests.api.conftest import app_client, auth, settings_for
from tests.observability.exposition import value
from tests.providers.base import Provider, Reply, Request, serving
from tests.providers.openai_server import OpenAIServer
from tests.support.namespaces import restricted_namespace
from tests.support.operator_process import OperatorProcess, running_operator
from tests.support.providers_env import (
    openai_config,
    openai_secret,
    operator_task_env,
    plain_http,
    put_config_map,
    put_secret,
)
from tests.support.redis_server import RedisServer
from tests.support.tasks import create_task, task_body, wait_phase
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

# Prices unlike the defaults, so the operator demonstrably priced with its settings.
CPU_CORE_HOUR = Decimal("36")  # 0.01 per core-second
MEMORY_GIB_HOUR = Decimal("7.2")  # 0.002 per GiB-second
INPUT_PER_MILLION, OUTPUT_PER_MILLION = Decimal("2"), Decimal("8")
USAGE = (12_345, 6_789)  # what the loopback OpenAI server reports per completion
PRICE_ENV = {
    "DEVSKYY_COST__CURRENCY": "EUR",
    "DEVSKYY_COST__CPU_CORE_HOUR": str(CPU_CORE_HOUR),
    "DEVSKYY_COST__MEMORY_GIB_HOUR": str(MEMORY_GIB_HOUR),
    "DEVSKYY_COST__MODELS": json.dumps(
        {
            "gpt-4o-mini": {
                "input_per_million": str(INPUT_PER_MILLION),
                "output_per_million": str(OUTPUT_PER_MILLION),
            }
        }
    ),
}
# The API's settings: it reports amounts in the operator's currency.
PRICE_ENV_SETTINGS = {"currency": PRICE_ENV["DEVSKYY_COST__CURRENCY"]}
MICRO = Decimal("0.000001")


def micros(amount: Decimal) -> int:
    return int(amount.quantize(MICRO, rounding=ROUND_HALF_UP) / MICRO)


def amount(micro_units: int) -> str:
    return f"{Decimal(micro_units) * MICRO:.6f}"


class Webhook(Provider):
    def route(self, request: Request) -> Reply:
        return Reply.json({"ok": True})


@dataclass
class CostWorld:
    namespace: str
    openai: OpenAIServer
    webhook: Webhook
    redis: redis.Redis[str]
    redis_url: str
    operator: OperatorProcess


@pytest_asyncio.fixture
async def cost_world(
    cluster: LocalCluster,
    kube: KubeClient,
    devskyy_crd: str,
    redis_server: RedisServer,
    tmp_path: Path,
) -> AsyncIterator[CostWorld]:
    namespace = await restricted_namespace(kube, "tt")
    client = redis_server.client()
    host = cluster.host_address
    try:
        with serving(OpenAIServer(), host) as openai, serving(Webhook(), host) as webhook:
            openai.usage = USAGE
            await put_secret(kube, namespace, openai_secret(openai))
            hooks = json.dumps({"ops": f"{webhook.url}/hook"})
            config = openai_config(openai) | plain_http(host) | {"SOCIAL_WEBHOOKS": hooks}
            await put_config_map(kube, namespace, config)
            extra = operator_task_env() | PRICE_ENV
            with running_operator(
                cluster, namespace, redis_server.url, tmp_path, extra
            ) as operator:
                yield CostWorld(namespace, openai, webhook, client, redis_server.url, operator)
    finally:
        client.close()
        await kube.delete(resource_path("v1", "namespaces", name=namespace))


async def requests_of(kube: KubeClient, namespace: str, name: str) -> dict[str, Decimal]:
    """The task container's requests, as the Job the operator created has them."""
    job = await kube.get(resource_path("batch/v1", "jobs", namespace, name))
    (container,) = job["spec"]["template"]["spec"]["containers"]
    requests = container["resources"]["requests"]
    return {r: parse_quantity(requests[r]) or Decimal(0) for r in ("cpu", "memory")}


def expected_resource(requests: dict[str, Decimal], status: dict[str, Any]) -> int:
    """Requested CPU and memory x the run time the status records x the prices."""
    started, completed = parse_time(status["startedAt"]), parse_time(status["completedAt"])
    assert started is not None
    assert completed is not None
    hours = Decimal((completed - started).total_seconds()) / 3600
    gib = requests["memory"] / 2**30
    return micros(requests["cpu"] * hours * CPU_CORE_HOUR + gib * hours * MEMORY_GIB_HOUR)


async def redis_cost(client: redis.Redis[str], task_id: str) -> dict[str, Any]:
    async def written() -> dict[str, Any] | None:
        raw = client.hget(f"devskyy:tasks:{task_id}", "cost")
        return dict(json.loads(raw)) if raw else None

    return await eventually(written, timeout=30, what=f"the Redis cost of {task_id}")


async def test_task_costs_are_usage_and_requests_at_the_configured_prices(
    kube: KubeClient, cost_world: CostWorld
) -> None:
    user = f"cost-{uuid.uuid4().hex[:8]}"
    since = datetime.now(UTC) - timedelta(seconds=5)
    campaign = task_body(
        "cost-campaign", "marketing_campaign",
        {"user_id": user, "campaign_id": "black-drop", "campaign_type": "social",
         "recipients": ["ops"], "content": {"topic": "BLACK collection drop"}},
    )  # fmt: skip
    diagnostic = task_body("cost-diagnostic", "diagnostic", {"user_id": user, "sleep_seconds": 3})
    for body in (campaign, diagnostic):
        await create_task(kube, cost_world.namespace, body)
    totals: dict[str, int] = {}
    providers = 0
    for body in (campaign, diagnostic):
        name, task_type = body["metadata"]["name"], body["spec"]["type"]
        task = await wait_phase(
            kube, cost_world.namespace, name, "Succeeded", "Failed", timeout=150
        )
        status = task["status"]
        assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
        cost = status["cost"]
        resource = expected_resource(await requests_of(kube, cost_world.namespace, name), status)
        assert resource > 0
        if task_type == "marketing_campaign":
            (line,) = cost["providerLines"]
            assert (line["provider"], line["model"], line["calls"]) == ("openai", "gpt-4o-mini", 1)
            assert (line["inputTokens"], line["outputTokens"]) == USAGE
            providers = micros(
                (USAGE[0] * INPUT_PER_MILLION + USAGE[1] * OUTPUT_PER_MILLION) / 10**6
            )
            assert line["amount"] == amount(providers)
        else:
            assert cost["providerLines"] == []
        spent = providers if task_type == "marketing_campaign" else 0
        assert cost["currency"] == "EUR"
        assert (cost["resource"], cost["providers"]) == (amount(resource), amount(spent))
        assert cost["total"] == amount(resource + spent)
        assert "usage" not in status["result"]  # priced, not kept as output
        record = await redis_cost(cost_world.redis, name)
        assert (record["total"], record["resource"]) == (cost["total"], cost["resource"])
        totals[task_type] = resource + spent
    chats = [r for r in cost_world.openai.requests if r.path == "/v1/chat/completions"]
    assert len(chats) == 1

    # devskyy_task_cost_total{type, component, currency}: this operator's tasks only,
    # counted just after their status was written.
    async def counted() -> str | None:
        text = cost_world.operator.metrics()
        done = all(value(text, "devskyy_task_cost_total", type=t) > 0 for t in totals)
        return text if done else None

    metrics = await eventually(counted, timeout=10, what="cost counters")
    for task_type, total in totals.items():
        counted = value(metrics, "devskyy_task_cost_total", type=task_type, currency="EUR")
        assert counted == pytest.approx(float(amount(total)), abs=1e-9)
    openai_spend = value(metrics, "devskyy_task_cost_total", component="openai")
    assert openai_spend == pytest.approx(float(amount(providers)), abs=1e-9)

    settings = settings_for(cost_world.redis_url, cost=PRICE_ENV_SETTINGS)
    async with app_client(settings) as api:
        params = {"since": utc_iso(since), "user_id": user}
        by_type = (await api.get("/v1/costs", params=params, headers=auth("ops"))).json()
        assert {g["key"]: g["total"] for g in by_type["groups"]} == {
            k: amount(v) for k, v in totals.items()
        }
        assert (by_type["total"], by_type["tasks"], by_type["currency"]) == (
            amount(sum(totals.values())), 2, "EUR",
        )  # fmt: skip
        params["group_by"] = "user"
        by_user = (await api.get("/v1/costs", params=params, headers=auth("ops"))).json()
        assert by_user["groups"] == [
            {"key": user, "total": amount(sum(totals.values())), "tasks": 2}
        ]
