"""Retries never repeat a side effect: each agent fails mid-work, the Job controller retries.

Every test makes one attempt fail at a point the test chooses: a
provider drops the connection or answers 503 at a named recipient, channel or
product, the test deletes the pod while the provider holds a job `running`, or
the models volume refuses the `latest` pointer. The real Job controller then
runs the next pod (backoffLimit, 10 s / 20 s back-off), which finds the task's
ledger in its own directory of the artifacts PVC (subPath) and continues. The
providers count effects; each must have happened once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis

from devskyy_agents.ledger import LEDGER_FILE
from devskyy_agents.marketing.email import message_id
from devskyy_agents.models import (
    FashnTryonOutput,
    Generate3DOutput,
    MarketingCampaignOutput,
    MLTrainingOutput,
)
from devskyy_agents.wordpress import media_slug, product_sku
from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.kube.client import KubeClient, resource_path
from tests.agents import ml_data
from tests.observability.exposition import value
from tests.providers.base import RETRY_NOW, Reply, Request, serving
from tests.providers.fashn_server import FashnServer
from tests.providers.openai_server import OpenAIServer
from tests.providers.smtp_server import Mailbox, smtp_server
from tests.providers.tripo_server import TripoServer
from tests.providers.webhook_server import WebhookServer
from tests.providers.wordpress_server import WordPressServer
from tests.support.cluster import job_pods
from tests.support.namespaces import restricted_namespace
from tests.support.operator_process import OperatorProcess, running_operator
from tests.support.providers_env import (
    FAST_POLLS,
    fashn_config,
    fashn_secret,
    openai_config,
    openai_secret,
    operator_task_env,
    plain_http,
    put_config_map,
    put_secret,
    smtp_config,
    tripo_config,
    tripo_secret,
)
from tests.support.redis_server import RedisServer
from tests.support.storage import Claim, bound_claims
from tests.support.tasks import create_task, task_body, wait_phase
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SENDER = "shop@skyyrose.example"
CLAIMS = {"devskyy-datasets": "datasets", "devskyy-models": "models", "devskyy-artifacts": "art"}


class ScriptedShop(WordPressServer):
    """WordPress whose product create for a SKU in `lose_create_of` happens but goes unanswered;
    then WooCommerce lookups answer 503 long enough (5 tries) to end the attempt."""

    def __init__(self) -> None:
        super().__init__()
        self.lose_create_of: set[str] = set()

    def route(self, request: Request) -> Reply:
        reply = super().route(request)
        if request.method == "POST" and reply.status == 201 and "/wc/v3/" in request.path:
            sku = str(request.json().get("sku", ""))
            if sku in self.lose_create_of:
                self.lose_create_of.discard(sku)
                self.fail_next("status", 503, times=5, method="GET", headers=RETRY_NOW)
                return Reply.dropped()
        return reply


class LossyHooks(WebhookServer):
    """Webhooks whose answer to the first post on a path in `lose_answer_on` is lost."""

    def __init__(self) -> None:
        super().__init__()
        self.lose_answer_on: set[str] = set()

    def route(self, request: Request) -> Reply:
        reply = super().route(request)
        if request.path in self.lose_answer_on:
            self.lose_answer_on.discard(request.path)
            return Reply.dropped()
        return reply


@dataclass
class World:
    namespace: str
    tripo: TripoServer
    fashn: FashnServer
    openai: OpenAIServer
    mailbox: Mailbox
    hooks: LossyHooks
    shop: ScriptedShop
    claims: dict[str, Claim]
    redis: redis.Redis[str]
    operator: OperatorProcess

    @property
    def artifacts(self) -> Path:
        return self.claims["devskyy-artifacts"].directory


@pytest.fixture(scope="module")
def redis_module(redis_server: RedisServer) -> Iterator[redis.Redis[str]]:
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest_asyncio.fixture(scope="module")
async def world(
    cluster: LocalCluster,
    kube: KubeClient,
    devskyy_crd: str,
    redis_server: RedisServer,
    redis_module: redis.Redis[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[World]:
    namespace = await restricted_namespace(kube, "rs")
    try:
        async with AsyncExitStack() as stack:
            host = cluster.host_address  # where the task pods reach this host
            tripo = stack.enter_context(serving(TripoServer(), host))
            fashn = stack.enter_context(serving(FashnServer(), host))
            openai = stack.enter_context(serving(OpenAIServer(), host))
            hooks = stack.enter_context(serving(LossyHooks(), host))
            shop = stack.enter_context(serving(ScriptedShop(), host))
            mailbox = Mailbox(refuse={"bounce@example.com"})
            smtp_host, smtp_port = stack.enter_context(smtp_server(mailbox, host))
            wordpress_secret = {
                "WORDPRESS_APP_PASSWORD": shop.wp_auth[1],
                "WOOCOMMERCE_KEY": shop.wc_auth[0],
                "WOOCOMMERCE_SECRET": shop.wc_auth[1],
            }
            keys = tripo_secret(tripo) | fashn_secret(fashn) | openai_secret(openai)
            await put_secret(kube, namespace, keys | wordpress_secret)
            webhooks = {name: f"{hooks.url}/{name}" for name in ("slack", "discord", "zapier")}
            await put_config_map(
                kube,
                namespace,
                tripo_config(tripo)
                | fashn_config(fashn)
                | openai_config(openai)
                | smtp_config(smtp_host, smtp_port, SENDER)
                | plain_http(host)
                | FAST_POLLS
                | {
                    "WORDPRESS_URL": shop.url,
                    "WORDPRESS_USER": shop.wp_auth[0],
                    "SOCIAL_WEBHOOKS": json.dumps(webhooks),
                },
            )
            claims = await stack.enter_async_context(
                bound_claims(kube, namespace, tmp_path_factory.mktemp("volumes"), CLAIMS)
            )
            kinds = {"datasets": "devskyy-datasets", "models": "devskyy-models"}
            extra = operator_task_env(claims=kinds | {"artifacts": "devskyy-artifacts"})
            operator = stack.enter_context(
                running_operator(
                    cluster, namespace, redis_server.url, tmp_path_factory.mktemp("op"), extra
                )
            )
            providers = (tripo, fashn, openai, mailbox, hooks, shop)
            yield World(namespace, *providers, claims, redis_module, operator)
    finally:
        await kube.delete(resource_path("v1", "namespaces", name=namespace))


# ----------------------------------------------------------------- helpers


async def run_to_end(world: World, kube: KubeClient, body: dict[str, Any]) -> dict[str, Any]:
    await create_task(kube, world.namespace, body)
    name = body["metadata"]["name"]
    return await wait_phase(kube, world.namespace, name, "Succeeded", "Failed", timeout=200)


def succeeded(task: dict[str, Any], attempts: int) -> dict[str, Any]:
    status: dict[str, Any] = task["status"]
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    assert status["attempts"] == attempts, status
    result: dict[str, Any] = status["result"]
    assert result["status"] == "success"
    return result


async def completed_record(world: World, task_id: str) -> dict[str, str]:
    async def written() -> dict[str, str] | None:
        record: dict[str, str] = world.redis.hgetall(f"devskyy:tasks:{task_id}")
        return record if record.get("status") == "completed" else None

    record = await eventually(written, timeout=30, what=f"Redis record of {task_id}")
    assert world.redis.get(f"devskyy:dlq:{task_id}") is None
    return record


def ledger(world: World, task_id: str) -> list[list[Any]]:
    """The task's ledger as the pods left it on the artifacts PV (its subPath directory)."""
    path = world.artifacts / task_id / LEDGER_FILE
    return [json.loads(line) for line in path.read_text().splitlines()]


async def running_pod(kube: KubeClient, world: World, job: str, skip: set[str]) -> str:
    async def found() -> str | None:
        for pod in await job_pods(kube, world.namespace, job):
            name = str(pod["metadata"]["name"])
            if name not in skip and (pod.get("status") or {}).get("phase") == "Running":
                return name
        return None

    return await eventually(found, timeout=90, what=f"a running pod of {job} besides {skip}")


async def kill_pod(kube: KubeClient, world: World, name: str) -> None:
    """Delete the pod as a user or a drain would: SIGTERM, then it ends Failed (exit 75)."""
    await kube.delete(resource_path("v1", "pods", world.namespace, name))


# ----------------------------------------------------------------- marketing: email


async def test_email_campaign_retried_twice_reaches_each_recipient_once(
    kube: KubeClient, world: World
) -> None:
    recipients = [f"fan{n}@example.com" for n in range(1, 7)]
    world.mailbox.lose_after["fan3@example.com"] = 1  # accepted, answer lost: in doubt
    world.mailbox.lose_before["fan5@example.com"] = 1  # connection lost before accepting
    body = task_body(
        "mail-retried", "marketing_campaign",
        {"user_id": "demo", "campaign_id": "rose-drop", "campaign_type": "email",
         "recipients": [*recipients, "bounce@example.com"], "content": {"topic": "drop"}},
    )  # fmt: skip
    result = succeeded(await run_to_end(world, kube, body), attempts=3)
    output = MarketingCampaignOutput.model_validate(result)
    assert (output.result.sent_count, output.result.failed_count) == (6, 1)
    received = {r: world.mailbox.received(r) for r in recipients}
    assert {r: len(m) for r, m in received.items()} == {
        **{r: 1 for r in recipients},
        "fan3@example.com": 2,  # the one documented in-doubt message, sent again ...
    }
    again = received["fan3@example.com"]
    assert again[0]["Message-ID"] == again[1]["Message-ID"]  # ... with the same Message-ID
    for recipient, messages in received.items():
        assert messages[0]["Message-ID"] == message_id("rose-drop", recipient, SENDER)
    chats = [r for r in world.openai.requests if b"rose-drop" in r.body]
    assert len(chats) == 1, "the content is written once and reused by the retries"
    record = await completed_record(world, "mail-retried")
    assert json.loads(record["result"])["result"]["sent_count"] == 6
    attempts = [value for key, value in ledger(world, "mail-retried") if key == "attempt"]
    assert attempts == [1, 2, 3]


# ----------------------------------------------------------------- marketing: social


async def test_social_campaign_posts_each_webhook_once(kube: KubeClient, world: World) -> None:
    world.hooks.fail_next("status", 503, times=5, path_prefix="/discord", headers=RETRY_NOW)
    world.hooks.lose_answer_on.add("/zapier")  # posted, answer lost: re-sent with the same key
    body = task_body(
        "social-retried", "marketing_campaign",
        {"user_id": "demo", "campaign_id": "rose-social", "campaign_type": "social",
         "recipients": ["slack", "discord", "zapier"], "content": {"topic": "drop"}},
    )  # fmt: skip
    result = succeeded(await run_to_end(world, kube, body), attempts=2)
    output = MarketingCampaignOutput.model_validate(result)
    assert (output.result.sent_count, output.result.failed_count) == (3, 0)
    for channel in ("slack", "discord", "zapier"):
        effects = world.hooks.effects(f"/{channel}")
        assert len(effects) == 1, f"{channel} got {len(effects)} posts"
        assert effects[0].key == f"rose-social:{channel}"
    zapier = [r for r in world.hooks.requests if r.path == "/zapier"]
    assert len(zapier) == 2, "the lost answer made the pod send once more, with the same key"
    assert {r.headers["idempotency-key"] for r in zapier} == {"rose-social:zapier"}
    await completed_record(world, "social-retried")


# ----------------------------------------------------------------- marketing: seo


async def test_seo_campaign_updates_each_product_once(kube: KubeClient, world: World) -> None:
    for product_id, slug in ((301, "rose-cap"), (302, "rose-scarf"), (303, "rose-socks")):
        world.shop.products[product_id] = {
            "id": product_id, "name": slug.replace("-", " ").title(), "slug": slug, "sku": "",
            "status": "publish", "images": [], "meta_data": [],
        }  # fmt: skip
    world.shop.fail_next(
        "status", 503, times=5, method="PUT", path_prefix="/wp-json/wc/v3/products/302",
        headers=RETRY_NOW,
    )  # fmt: skip
    body = task_body(
        "seo-retried", "marketing_campaign",
        {"user_id": "demo", "campaign_id": "rose-seo", "campaign_type": "seo",
         "recipients": ["301", "rose-scarf", "rose-socks"], "content": {"topic": "drop"}},
    )  # fmt: skip
    result = succeeded(await run_to_end(world, kube, body), attempts=2)
    output = MarketingCampaignOutput.model_validate(result)
    assert (output.result.sent_count, output.result.failed_count) == (3, 0)
    assert {p: world.shop.updates[p] for p in (301, 302, 303)} == {301: 1, 302: 1, 303: 1}
    puts = [r for r in world.shop.requests if r.method == "PUT" and r.path.endswith("/302")]
    assert len(puts) == 6, "five refused in attempt 1, one accepted in attempt 2"
    await completed_record(world, "seo-retried")


# ----------------------------------------------------------------- generate_3d


async def test_generate_3d_resumes_its_tripo_task_and_publishes_once(
    kube: KubeClient, world: World
) -> None:
    mark = "hold-gen3d-resume"
    world.tripo.hold_marks.add(mark)
    world.shop.lose_create_of.add(product_sku("gen3d-retried"))
    body = task_body(
        "gen3d-retried", "generate_3d",
        {"user_id": "ada", "prompt": f"rose hoodie {mark}", "product_name": "Rose Runner Hoodie"},
    )  # fmt: skip
    await create_task(kube, world.namespace, body)
    first = await running_pod(kube, world, "gen3d-retried", set())

    async def polled() -> bool:
        ids = world.tripo.created(mark)
        return bool(ids) and world.tripo.tasks[ids[0]].polls > 0

    await eventually(polled, timeout=60, what="the first pod polling its Tripo task")
    await kill_pod(kube, world, first)  # dies while polling a paid task
    await running_pod(kube, world, "gen3d-retried", {first})
    world.tripo.hold_marks.discard(mark)  # the generation ends; attempt 2 publishes
    task = await wait_phase(kube, world.namespace, "gen3d-retried", "Succeeded", "Failed", 200)
    # Attempt 2's product create went unanswered and its lookups failed; attempt 3 found it.
    output = Generate3DOutput.model_validate(succeeded(task, attempts=3))
    assert world.tripo.created(mark) == [output.result.task_id], "one paid Tripo task"
    products = [p for p in world.shop.products.values() if p["sku"] == product_sku("gen3d-retried")]
    assert len(products) == 1, "one WooCommerce product"
    assert world.shop.created_products.count(products[0]["id"]) == 1
    assert products[0]["status"] == "draft"
    slugs = sorted(m["slug"] for m in world.shop.media.values() if "gen3d-retried" in m["slug"])
    assert slugs == [media_slug("gen3d-retried", "model"), media_slug("gen3d-retried", "preview")]
    media_ids = output.result.wordpress_media_ids
    assert media_ids is not None
    assert products[0]["images"] == [{"id": media_ids[0]}]
    record = await completed_record(world, "gen3d-retried")
    assert json.loads(record["result"])["result"]["task_id"] == output.result.task_id


# ----------------------------------------------------------------- fashn_tryon


async def test_fashn_tryon_resumes_its_prediction(kube: KubeClient, world: World) -> None:
    mark = "hold-tryon-resume"
    world.fashn.hold_marks.add(mark)
    body = task_body(
        "tryon-retried", "fashn_tryon",
        {"user_id": "grace", "model_image": "https://cdn.skyyrose.example/m.jpg",
         "garment_image": f"https://cdn.skyyrose.example/{mark}.png"},
    )  # fmt: skip
    await create_task(kube, world.namespace, body)
    first = await running_pod(kube, world, "tryon-retried", set())

    async def polled() -> bool:
        ids = world.fashn.started(mark)
        return bool(ids) and world.fashn.polls[ids[0]] > 0

    await eventually(polled, timeout=60, what="the first pod polling its prediction")
    await kill_pod(kube, world, first)
    await running_pod(kube, world, "tryon-retried", {first})
    world.fashn.hold_marks.discard(mark)
    task = await wait_phase(kube, world.namespace, "tryon-retried", "Succeeded", "Failed", 200)
    output = FashnTryonOutput.model_validate(succeeded(task, attempts=2))
    assert world.fashn.started(mark) == [output.result.prediction_id], "one paid prediction"
    await completed_record(world, "tryon-retried")


# ----------------------------------------------------------------- ml_training


async def test_ml_training_is_not_repeated_after_the_model_was_stored(
    kube: KubeClient, world: World
) -> None:
    ml_data.write(world.claims["devskyy-datasets"].directory, "iris.csv", ml_data.iris())
    family = world.claims["devskyy-models"].directory / "customer_segmentation"
    family.mkdir()
    family.chmod(0o777)
    blocker = family / "latest"
    blocker.mkdir()  # the pointer cannot be replaced: attempt 1 fails after storing its model
    body = task_body(
        "train-retried", "ml_training",
        {"user_id": "demo", "model_id": "customer_segmentation", "training_data_path": "iris.csv"},
    )  # fmt: skip
    await create_task(kube, world.namespace, body)

    async def first_failed() -> bool:
        pods = await job_pods(kube, world.namespace, "train-retried")
        return any((p.get("status") or {}).get("phase") == "Failed" for p in pods)

    await eventually(first_failed, timeout=90, what="attempt 1 to fail")
    blocker.rmdir()  # the Job controller waits 10 s before the retry
    task = await wait_phase(kube, world.namespace, "train-retried", "Succeeded", "Failed", 120)
    output = MLTrainingOutput.model_validate(succeeded(task, attempts=2))
    versions = [p.name for p in family.iterdir() if p.is_dir()]
    assert versions == [output.result.model_version], "trained once"
    assert blocker.read_text() == versions[0]
    stored = [value for key, value in ledger(world, "train-retried") if key == "ml:model"]
    assert len(stored) == 1
    assert stored[0]["version"] == versions[0]
    await completed_record(world, "train-retried")


# ----------------------------------------------------------------- diagnostic: fail_attempts


async def test_diagnostic_fails_twice_then_succeeds(kube: KubeClient, world: World) -> None:
    """#20: "failed, retried, succeeded" end to end: status, Redis record, no DLQ, metrics."""
    body = task_body(
        "diag-retried", "diagnostic",
        {"user_id": "demo", "fail_attempts": 2, "result": {"ok": True}}, retries=2,
    )  # fmt: skip
    task = await run_to_end(world, kube, body)
    assert succeeded(task, attempts=3)["result"] == {"ok": True}
    pods = await job_pods(kube, world.namespace, "diag-retried")
    phases = sorted((p.get("status") or {}).get("phase") for p in pods)
    assert phases == ["Failed", "Failed", "Succeeded"]
    record = await completed_record(world, "diag-retried")
    assert record["attempts"] == "3"
    assert json.loads(record["result"])["result"] == {"ok": True}
    assert world.redis.zscore("devskyy:dlq-index", "diag-retried") is None

    async def counted() -> str | None:
        text = await asyncio.to_thread(world.operator.metrics)
        done = value(text, "worker_tasks_total", type="diagnostic", status="success")
        return text if done == 1 else None

    text = await eventually(counted, timeout=30, interval=0.5, what="the success metric")
    assert value(text, "worker_tasks_total", type="diagnostic", status="failed") == 0
    assert value(text, "worker_errors_total", type="diagnostic") == 0
    assert value(text, "devskyy_dead_letters_total", type="diagnostic") == 0
    assert value(text, "worker_task_duration_seconds_count", type="diagnostic") == 1
