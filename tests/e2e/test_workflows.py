"""DevSkyyWorkflow end to end: workflow -> step DevSkyyTasks -> Jobs -> outputs -> next steps.

The seed's chain as a workflow: generate a 3D asset (Tripo3D) and attach it to
the WooCommerce product, write the product's SEO from the asset's outputs, then
announce it by email, against the loopback Tripo3D, WordPress/WooCommerce,
OpenAI and SMTP servers, reached by the task pods on the node. The failure,
reference and cancel cases use diagnostic steps (one quick pod each).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.bridge.workflows import execute_workflow_requests
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import ApiError, NotFound
from devskyy_operator.redisq import connect
from devskyy_operator.redisq.scripts import disconnect
from tests.api.conftest import app_client, auth, settings_for
from tests.providers.base import serving
from tests.providers.openai_server import OpenAIServer
from tests.providers.smtp_server import Mailbox, smtp_server
from tests.providers.tripo_server import TripoServer
from tests.providers.wordpress_server import WordPressServer
from tests.support.cluster import job_pods, kubectl
from tests.support.operator_process import OperatorProcess, running_operator
from tests.support.providers_env import (
    FAST_POLLS,
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
from tests.support.storage import bound_claims
from tests.support.tasks import get_task
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SENDER = "shop@skyyrose.example"
PRODUCT = "BLACK Rose Hoodie"  # product 101 of the WordPress server
MODEL_URL = "{{ steps.asset.outputs.model_url }}"
TASK_ENV = operator_task_env(claims={"artifacts": "devskyy-artifacts"})


@dataclass
class World:
    namespace: str
    tripo: TripoServer
    openai: OpenAIServer
    mailbox: Mailbox
    shop: WordPressServer
    operator: OperatorProcess


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
    namespace = f"wf-{uuid.uuid4().hex[:10]}"
    await kube.create(
        resource_path("v1", "namespaces"),
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            },
        },
    )
    try:
        async with AsyncExitStack() as stack:
            host = cluster.host_address
            tripo = stack.enter_context(serving(TripoServer(), host))
            openai = stack.enter_context(serving(OpenAIServer(), host))
            shop = stack.enter_context(serving(WordPressServer(), host))
            mailbox = Mailbox()
            smtp_host, smtp_port = stack.enter_context(smtp_server(mailbox, host))
            wordpress_secret = {
                "WORDPRESS_APP_PASSWORD": shop.wp_auth[1],
                "WOOCOMMERCE_KEY": shop.wc_auth[0],
                "WOOCOMMERCE_SECRET": shop.wc_auth[1],
            }
            await put_secret(
                kube, namespace, tripo_secret(tripo) | openai_secret(openai) | wordpress_secret
            )
            await put_config_map(
                kube,
                namespace,
                tripo_config(tripo)
                | openai_config(openai)
                | smtp_config(smtp_host, smtp_port, SENDER)
                | plain_http(host)
                | FAST_POLLS
                | {"WORDPRESS_URL": shop.url, "WORDPRESS_USER": shop.wp_auth[0]},
            )
            claims = {"devskyy-artifacts": "art"}
            await stack.enter_async_context(
                bound_claims(kube, namespace, tmp_path_factory.mktemp("volumes"), claims)
            )
            operator = stack.enter_context(
                running_operator(
                    cluster, namespace, redis_server.url, tmp_path_factory.mktemp("op"), TASK_ENV
                )
            )
            yield World(namespace, tripo, openai, mailbox, shop, operator)
    finally:
        await kube.delete(resource_path("v1", "namespaces", name=namespace))


# ----------------------------------------------------------------- helpers


def workflows_path(namespace: str, name: str | None = None) -> str:
    return resource_path(keys.API_VERSION, keys.WORKFLOW_PLURAL, namespace, name)


def workflow_body(name: str, steps: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": keys.API_VERSION,
        "kind": keys.WORKFLOW_KIND,
        "metadata": {"name": name},
        "spec": {"steps": steps, **spec},
    }


def step(name: str, task_type: str, task_input: dict[str, Any], *deps: str) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "task": {"type": task_type, "input": task_input}}
    if deps:
        body["dependsOn"] = list(deps)
    return body


def diagnostic(name: str, *deps: str, user: str = "ada", **fields: Any) -> dict[str, Any]:
    return step(name, "diagnostic", {"user_id": user, **fields}, *deps)


async def wait_workflow(
    kube: KubeClient, namespace: str, name: str, *phases: str, timeout: float = 240
) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        body = await kube.get(workflows_path(namespace, name))
        return body if (body.get("status") or {}).get("phase") in phases else None

    return await eventually(reached, timeout=timeout, what=f"workflow {name} in {phases}")


def steps_of(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in workflow["status"]["steps"]}


def chat_bodies(openai: OpenAIServer) -> list[str]:
    return [r.body.decode() for r in openai.requests if r.path == "/v1/chat/completions"]


# ----------------------------------------------------------------- the seed's chain


async def test_3d_asset_then_product_seo_then_email_announcement(
    kube: KubeClient, world: World, cluster: LocalCluster
) -> None:
    recipients = ["ada.lovelace@example.com", "grace@example.com"]
    steps = [
        step("asset", "generate_3d",
             {"user_id": "ada", "prompt": "oversized hoodie with an embroidered rose",
              "product_name": PRODUCT, "collection": "BLACK", "garment_type": "hoodie"}),
        step("seo", "marketing_campaign",
             {"user_id": "ada", "campaign_id": "black-rose-3d", "campaign_type": "seo",
              "recipients": ["black-rose-hoodie"],
              "content": {"topic": "the BLACK Rose Hoodie in 3D", "model_url": MODEL_URL}},
             "asset"),
        step("announce", "marketing_campaign",
             {"user_id": "ada", "campaign_id": "black-rose-3d", "campaign_type": "email",
              "recipients": recipients,
              "content": {"topic": "the BLACK Rose Hoodie, now in 3D",
                          "model_url": MODEL_URL,
                          "preview": "See it: {{ steps.asset.outputs.preview_url }}",
                          "products_updated": "{{ steps.seo.outputs.sent_count }}"}},
             "asset", "seo"),
    ]  # fmt: skip
    created = await kube.create(
        workflows_path(world.namespace), workflow_body("launch", steps, failurePolicy="Stop")
    )
    done = await wait_workflow(kube, world.namespace, "launch", "Succeeded", "Failed")
    status = done["status"]
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    assert (status["progress"], status["succeeded"], status["total"]) == ("3/3", 3, 3)
    assert "failedStep" not in status
    by_step = steps_of(done)
    assert [s["name"] for s in status["steps"]] == ["asset", "seo", "announce"]
    for name in ("asset", "seo", "announce"):
        assert by_step[name]["phase"] == "Succeeded", by_step
        assert by_step[name]["taskName"] == f"launch-{name}"

    # Each step is one DevSkyyTask owned by the workflow, started after its dependencies.
    tasks = {n: await get_task(kube, world.namespace, f"launch-{n}") for n in by_step}
    for name, task in tasks.items():
        owner = task["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["uid"]) == ("DevSkyyWorkflow", created["metadata"]["uid"])
        assert task["metadata"]["labels"][keys.LABEL_WORKFLOW_STEP] == name
        assert task["status"]["phase"] == "Succeeded"
    assert tasks["seo"]["metadata"]["creationTimestamp"] >= tasks["asset"]["status"]["completedAt"]
    assert (
        tasks["announce"]["metadata"]["creationTimestamp"] >= tasks["seo"]["status"]["completedAt"]
    )

    # The asset: one Tripo task, its files attached to the WooCommerce product.
    model_url = by_step["asset"]["outputs"]["model_url"]
    tripo_id = by_step["asset"]["outputs"]["task_id"]
    assert model_url == f"{world.tripo.url}/files/{tripo_id}/model.glb"
    assert [r for r in world.tripo.requests if r.method == "POST" and r.path == "/task"]
    assert len([r for r in world.tripo.requests if r.method == "POST"]) == 1
    meta = {m["key"]: m["value"] for m in world.shop.products[101]["meta_data"]}
    assert meta["_devskyy_3d_model_url"] == model_url
    # The SEO step wrote the product, from a brief holding the asset's model URL.
    assert meta["_yoast_wpseo_title"] == "SkyyRose BLACK Collection Hoodies"
    assert by_step["seo"]["outputs"]["sent_count"] == 1
    assert tasks["seo"]["spec"]["input"]["content"]["model_url"] == model_url
    # The announcement: its brief carries both earlier steps' outputs, substituted.
    content = tasks["announce"]["spec"]["input"]["content"]
    preview = by_step["asset"]["outputs"]["preview_url"]
    assert content == {
        "topic": "the BLACK Rose Hoodie, now in 3D",
        "model_url": model_url,
        "preview": f"See it: {preview}",
        "products_updated": 1,  # a whole-value reference keeps its JSON type
    }
    chats = chat_bodies(world.openai)
    assert len(chats) == 2, chats
    assert all(model_url in c for c in chats), chats
    assert not any("{{" in c for c in chats)
    assert sorted(m["To"] for m in world.mailbox.messages) == recipients
    assert by_step["announce"]["outputs"]["sent_count"] == 2

    shown = kubectl(cluster, "get", "dstwf", "launch", "-n", world.namespace).stdout
    header, row = shown.splitlines()[:2]
    assert header.split()[:3] == ["NAME", "PHASE", "PROGRESS"], shown
    assert row.split()[:3] == ["launch", "Succeeded", "3/3"], shown


# ----------------------------------------------------------------- failure


async def test_failing_middle_step_stops_its_dependants(kube: KubeClient, world: World) -> None:
    steps = [
        diagnostic("first", result={"asset": "https://cdn.skyyrose.example/a.glb"}),
        diagnostic("middle", "first", exit_code=42,
                   result={"from": "{{ steps.first.outputs.asset }}"}),
        diagnostic("last", "middle"),
    ]  # fmt: skip
    await kube.create(workflows_path(world.namespace), workflow_body("breaks", steps))
    done = await wait_workflow(kube, world.namespace, "breaks", "Succeeded", "Failed")
    status = done["status"]
    assert status["phase"] == "Failed", status
    assert status["failedStep"] == "middle"
    assert status["message"].startswith("step middle failed: task breaks-middle failed")
    assert status["progress"] == "1/3"
    by_step = steps_of(done)
    assert by_step["first"]["phase"] == "Succeeded"
    assert (by_step["middle"]["phase"], by_step["middle"]["reason"]) == (
        "Failed", "PermanentFailure",
    )  # fmt: skip
    assert (by_step["last"]["phase"], by_step["last"]["reason"]) == ("Skipped", "DependencyFailed")
    assert "step middle" in by_step["last"]["message"]
    middle = await get_task(kube, world.namespace, "breaks-middle")
    assert middle["spec"]["input"]["result"] == {"from": "https://cdn.skyyrose.example/a.glb"}
    with pytest.raises(NotFound):
        await get_task(kube, world.namespace, "breaks-last")


async def test_unknown_output_field_fails_the_step_before_its_task_exists(
    kube: KubeClient, world: World
) -> None:
    steps = [
        diagnostic("first", result={"asset": "a.glb"}),
        diagnostic("second", "first", result={"x": "{{ steps.first.outputs.assset }}"}),
    ]
    await kube.create(workflows_path(world.namespace), workflow_body("typo", steps))
    done = await wait_workflow(kube, world.namespace, "typo", "Succeeded", "Failed")
    second = steps_of(done)["second"]
    assert (second["phase"], second["reason"]) == ("Failed", "InvalidStepInput"), second
    assert "no field 'assset' (it has: asset)" in second["message"]
    assert done["status"]["failedStep"] == "second"
    with pytest.raises(NotFound):
        await get_task(kube, world.namespace, "typo-second")


async def test_a_kubectl_cycle_fails_naming_the_step_and_starts_nothing(
    kube: KubeClient, world: World
) -> None:
    steps = [diagnostic("a", "b"), diagnostic("b", "a")]
    await kube.create(workflows_path(world.namespace), workflow_body("loop", steps))
    done = await wait_workflow(kube, world.namespace, "loop", "Succeeded", "Failed", timeout=60)
    status = done["status"]
    assert (status["reason"], status["failedStep"]) == ("InvalidWorkflow", "a"), status
    assert status["message"] == "step a depends on b, a cycle: a -> b -> a"
    assert steps_of(done)["b"]["phase"] == "Skipped"
    listed = await kube.list(
        resource_path(keys.API_VERSION, keys.PLURAL, world.namespace),
        labelSelector=f"{keys.LABEL_WORKFLOW}=loop",
    )
    assert listed == []


# ----------------------------------------------------------------- cancel


async def test_cancel_stops_the_running_step_and_starts_no_more(
    kube: KubeClient, world: World
) -> None:
    steps = [diagnostic("slow", sleep_seconds=300.0), diagnostic("after", "slow")]
    await kube.create(workflows_path(world.namespace), workflow_body("halt", steps))

    async def running() -> dict[str, Any] | None:
        try:
            task = await get_task(kube, world.namespace, "halt-slow")
        except NotFound:
            return None  # not created yet
        return task if (task.get("status") or {}).get("phase") == "Running" else None

    await eventually(running, timeout=120, what="step slow running")
    await kube.patch(workflows_path(world.namespace, "halt"), {"spec": {"cancel": True}})
    done = await wait_workflow(kube, world.namespace, "halt", "Cancelled", timeout=60)
    by_step = steps_of(done)
    assert (by_step["slow"]["phase"], by_step["slow"]["reason"]) == (
        "Cancelled", "WorkflowCancelled",
    )  # fmt: skip
    assert by_step["after"]["phase"] == "Skipped"

    async def gone() -> bool:
        try:
            await get_task(kube, world.namespace, "halt-slow")
        except NotFound:
            return True
        return False

    await eventually(gone, timeout=60, what="task halt-slow deleted")
    with pytest.raises(ApiError) as refused:
        await kube.patch(workflows_path(world.namespace, "halt"), {"spec": {"cancel": False}})
    assert "cannot be resumed" in str(refused.value)


# ----------------------------------------------------------------- the API door


async def test_submitted_through_the_api_run_by_the_bridge_and_read_back(
    kube: KubeClient, world: World, redis_server: RedisServer
) -> None:
    """POST /v1/workflows records it in Redis; a bridge cycle creates the resource; the
    operator runs it and copies its status into Redis, which GET reads."""
    body = {
        "steps": [
            diagnostic("one", user="alice", result={"n": 7}),
            diagnostic("two", "one", user="alice", result={"m": "{{ steps.one.outputs.n }}"}),
        ]
    }
    client = connect(redis_server.url)
    try:
        async with app_client(settings_for(redis_server.url)) as api:
            response = await api.post("/v1/workflows", json=body, headers=auth("alice"))
            assert response.status_code == 202, response.text
            name = response.json()["id"]
            assert await execute_workflow_requests(client, kube, world.namespace) == 1
            resource = await kube.get(workflows_path(world.namespace, name))
            assert resource["metadata"]["annotations"][keys.ANNOTATION_SOURCE] == "api"
            assert resource["spec"]["steps"][1]["dependsOn"] == ["one"]

            async def finished() -> dict[str, Any] | None:
                view: dict[str, Any] = (
                    await api.get(f"/v1/workflows/{name}", headers=auth("alice"))
                ).json()
                return view if view["phase"] in ("Succeeded", "Failed") else None

            view = await eventually(finished, timeout=180, what=f"workflow {name} via the API")
            assert (view["phase"], view["progress"]) == ("Succeeded", "2/2"), view
            assert [s["task_id"] for s in view["steps"]] == [f"{name}-one", f"{name}-two"]
            assert view["steps"][1]["outputs"] == {"m": 7}
            task = (await api.get(f"/v1/tasks/{name}-two", headers=auth("alice"))).json()
            assert task["status"] == "completed", task
            refused = await api.delete(f"/v1/workflows/{name}", headers=auth("alice"))
            assert refused.status_code == 409
    finally:
        await disconnect(client)


# ----------------------------------------------------------------- restart (runs last: it
# replaces the module's operator)


async def test_an_operator_restart_starts_no_step_twice(
    kube: KubeClient,
    world: World,
    cluster: LocalCluster,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    steps = [
        diagnostic("slow", sleep_seconds=6.0, result={"n": 3}),
        diagnostic("next", "slow", result={"m": "{{ steps.slow.outputs.n }}"}),
    ]
    await kube.create(workflows_path(world.namespace), workflow_body("again", steps))

    async def started() -> dict[str, Any] | None:
        try:
            return await get_task(kube, world.namespace, "again-slow")
        except NotFound:
            return None

    first = await eventually(started, timeout=60, what="step slow created")
    world.operator.kill()  # mid-step: its task runs on without an operator
    with running_operator(cluster, world.namespace, redis_server.url, tmp_path, TASK_ENV):
        done = await wait_workflow(kube, world.namespace, "again", "Succeeded", "Failed")
    assert done["status"]["phase"] == "Succeeded", done["status"]
    slow = await get_task(kube, world.namespace, "again-slow")
    assert slow["metadata"]["uid"] == first["metadata"]["uid"], "step slow was created again"
    assert len(await job_pods(kube, world.namespace, "again-slow")) == 1
    assert len(await job_pods(kube, world.namespace, "again-next")) == 1
    nxt = await get_task(kube, world.namespace, "again-next")
    assert nxt["spec"]["input"]["result"] == {"m": 3}
