"""Every task type end to end: DevSkyyTask -> operator -> Job -> pod running `devskyy-task`.

The pods run the real agents against the loopback providers (Tripo3D, FASHN,
OpenAI chat completions, an aiosmtpd SMTP server) that this module starts on
the host end of the node's link (`cluster.host_address`), where pods reach them. Provider
keys come from a real Secret and the base URLs from a real ConfigMap, both given
to the pods by the operator's `envFrom` references; the ML types read and write
hostPath PersistentVolumes bound to PVCs. One namespace, one set of providers and
one operator serve the module (cheaper than one per test); the missing-key case
needs a Secret without the key, so it gets a namespace and an operator of its own.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis
import yaml

from devskyy_agents.logs import MASK
from devskyy_agents.models import (
    FashnTryonOutput,
    Generate3DOutput,
    MarketingCampaignOutput,
    MLPredictionOutput,
    MLTrainingOutput,
)
from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.kube.client import KubeClient, resource_path
from tests.agents import ml_data
from tests.providers.base import Reply, Request, bearer, serving
from tests.providers.fashn_server import FashnServer
from tests.providers.openai_server import OpenAIServer
from tests.providers.smtp_server import Mailbox, smtp_server
from tests.providers.tripo_server import TripoServer
from tests.support.cluster import job_pods, kubectl
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
from tests.support.tasks import create_task, get_task, task_body, wait_phase
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

# A distinctive key: any occurrence of it anywhere is a leak.
TRIPO_KEY = f"tsk_{secrets.token_hex(20)}"
FAIL_MARK = "provider-fails-this"
ECHO_MARK = "provider-echoes-key"
SENDER = "shop@skyyrose.example"
CLAIMS = {"devskyy-datasets": "datasets", "devskyy-models": "models", "devskyy-artifacts": "art"}
SENTIMENT_CSV = "tweets.csv"


class ScriptedTripo(TripoServer):
    """Tripo3D whose verdict the prompt decides.

    FAIL_MARK: accepted, then the task ends `failed` at the provider.
    ECHO_MARK: refused with HTTP 400 whose message quotes the caller's API key,
    as a careless provider might: the pod must not pass that on.
    """

    def route(self, request: Request) -> Reply:
        is_create = request.method == "POST" and request.path == "/task"
        if is_create and ECHO_MARK in str(request.json().get("prompt", "")):
            message = f"prompt rejected for API key {bearer(request)}"
            return Reply.json({"code": 2010, "message": message}, 400)
        if request.method == "GET" and request.path.startswith("/task/"):
            task_id = request.path.removeprefix("/task/")
            task = self.tasks.get(task_id)
            if task is not None and FAIL_MARK in str(task.body.get("prompt", "")):
                task.polls += 1
                status = "running" if task.polls < 2 else "failed"
                data = {"task_id": task_id, "type": "text_to_model", "status": status}
                return Reply.json({"code": 0, "data": data})
        return super().route(request)


@dataclass
class World:
    namespace: str
    tripo: ScriptedTripo
    fashn: FashnServer
    openai: OpenAIServer
    mailbox: Mailbox
    claims: dict[str, Claim]
    redis: redis.Redis[str]
    operator: OperatorProcess


@pytest.fixture(scope="module")
def redis_module(redis_server: RedisServer) -> Iterator[redis.Redis[str]]:
    """The session's Redis, flushed once for this module (the module's operator shares it)."""
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
    namespace = await restricted_namespace(kube, "tt")
    try:
        async with AsyncExitStack() as stack:
            host = cluster.host_address
            tripo = stack.enter_context(serving(ScriptedTripo(api_key=TRIPO_KEY), host))
            fashn = stack.enter_context(serving(FashnServer(), host))
            openai = stack.enter_context(serving(OpenAIServer(), host))
            mailbox = Mailbox(refuse={"bounce@example.com"})
            smtp_host, smtp_port = stack.enter_context(smtp_server(mailbox, host))
            await put_secret(
                kube, namespace, tripo_secret(tripo) | fashn_secret(fashn) | openai_secret(openai)
            )
            await put_config_map(
                kube,
                namespace,
                tripo_config(tripo)
                | fashn_config(fashn)
                | openai_config(openai)
                | smtp_config(smtp_host, smtp_port, SENDER)
                | plain_http(host)
                | FAST_POLLS
                | {"LOG_LEVEL": "DEBUG"},
            )
            claims = await stack.enter_async_context(
                bound_claims(kube, namespace, tmp_path_factory.mktemp("volumes"), CLAIMS)
            )
            ml_data.write(claims["devskyy-datasets"].directory, SENTIMENT_CSV, ml_data.tweets())
            kinds = {"datasets": "devskyy-datasets", "models": "devskyy-models"}
            extra = operator_task_env(claims=kinds | {"artifacts": "devskyy-artifacts"})
            operator = stack.enter_context(
                running_operator(
                    cluster,
                    namespace,
                    redis_server.url,
                    tmp_path_factory.mktemp("operator"),
                    extra,
                )
            )
            yield World(namespace, tripo, fashn, openai, mailbox, claims, redis_module, operator)
    finally:
        await kube.delete(resource_path("v1", "namespaces", name=namespace))


# ----------------------------------------------------------------- helpers


async def run_to_end(
    kube: KubeClient, namespace: str, body: dict[str, Any], timeout: float = 150.0
) -> dict[str, Any]:
    await create_task(kube, namespace, body)
    name = body["metadata"]["name"]
    return await wait_phase(kube, namespace, name, "Succeeded", "Failed", timeout=timeout)


def succeeded(task: dict[str, Any]) -> dict[str, Any]:
    status: dict[str, Any] = task["status"]
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    result: dict[str, Any] = status["result"]
    assert result["status"] == "success"
    return result


async def redis_record(client: redis.Redis[str], task_id: str, state: str) -> dict[str, str]:
    """The task hash once the operator wrote the final `state` into it."""

    async def written() -> dict[str, str] | None:
        record: dict[str, str] = client.hgetall(f"devskyy:tasks:{task_id}")
        return record if record.get("status") == state else None

    return await eventually(written, timeout=30, what=f"Redis status {state} of {task_id}")


async def dlq_record(client: redis.Redis[str], task_id: str) -> dict[str, Any]:
    async def written() -> dict[str, Any] | None:
        raw = client.get(f"devskyy:dlq:{task_id}")
        return dict(json.loads(str(raw))) if raw is not None else None

    return await eventually(written, timeout=30, what=f"DLQ record of {task_id}")


async def pod_logs(kube: KubeClient, cluster: LocalCluster, namespace: str, job: str) -> str:
    """The logs of the Job's pods, as `kubectl logs` reads them from the kubelet."""
    pods = await job_pods(kube, namespace, job)
    assert pods, f"no pods of {job}"
    texts = []
    for pod in pods:
        name = pod["metadata"]["name"]
        texts.append(kubectl(cluster, "logs", "-n", namespace, name, "-c", "task").stdout)
    return "\n".join(texts)


# ----------------------------------------------------------------- generate_3d


async def test_generate_3d_from_text_prompt(
    kube: KubeClient, world: World, cluster: LocalCluster
) -> None:
    prompt = "oversized heavyweight hoodie with embroidered rose"
    body = task_body(
        "gen3d-text", "generate_3d",
        {"user_id": "ada", "prompt": prompt, "garment_type": "hoodie", "collection": "BLACK"},
    )  # fmt: skip
    result = succeeded(await run_to_end(kube, world.namespace, body))
    output = Generate3DOutput.model_validate(result)
    assert output.task_id == "gen3d-text"
    created = [r for r in world.tripo.requests if r.method == "POST" and r.path == "/task"]
    created = [r for r in created if prompt in str(r.json().get("prompt"))]
    assert len(created) == 1, "the pod should have started exactly one Tripo task"
    assert created[0].json()["type"] == "text_to_model"
    assert bearer(created[0]) == TRIPO_KEY
    tripo_id = output.result.task_id
    assert tripo_id in world.tripo.tasks
    assert output.result.model_url == f"{world.tripo.url}/files/{tripo_id}/model.glb"
    assert output.result.texture_url.endswith("/pbr_model.glb")
    assert output.result.preview_url.endswith("/preview.png")
    record = await redis_record(world.redis, "gen3d-text", "completed")
    assert record["task_type"] == "generate_3d"
    assert json.loads(record["result"])["result"]["task_id"] == tripo_id
    assert record["worker_host"] == cluster.node_name
    assert world.redis.get("devskyy:dlq:gen3d-text") is None


async def test_generate_3d_failed_at_provider_is_permanent_and_dead_lettered(
    kube: KubeClient, world: World
) -> None:
    body = task_body(
        "gen3d-fails", "generate_3d",
        {"user_id": "ada", "prompt": f"hoodie {FAIL_MARK}"}, retries=3,
    )  # fmt: skip
    task = await run_to_end(kube, world.namespace, body)
    status = task["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "PermanentFailure"), status
    assert status["attempts"] == 1
    assert status["exitCode"] == 42
    assert status["errorType"] == "ProviderTaskFailed"
    assert "ended failed" in status["message"]
    dead = [c for c in status["conditions"] if c["type"] == "DeadLettered"]
    assert len(dead) == 1, status["conditions"]
    assert dead[0]["message"] == "devskyy:dlq:gen3d-fails"
    assert len(await job_pods(kube, world.namespace, "gen3d-fails")) == 1, "must not retry"
    record = await dlq_record(world.redis, "gen3d-fails")
    assert record["error_type"] == "ProviderTaskFailed", record
    assert "Tripo3D task tripo-" in record["error"]
    assert "ended failed" in record["error"]
    assert record["reason"] == "PermanentFailure"
    assert record["exit_code"] == 42
    assert record["task_data"]["prompt"] == f"hoodie {FAIL_MARK}"
    assert (await redis_record(world.redis, "gen3d-fails", "failed"))["task_type"] == "generate_3d"


async def test_generate_3d_without_tripo_key_fails_permanently_with_a_clear_error(
    kube: KubeClient,
    cluster: LocalCluster,
    devskyy_crd: str,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    """The Secret exists but lacks TRIPO_API_KEY: the task says so and is not retried."""
    namespace = await restricted_namespace(kube, "tt")
    client = redis_server.client()
    try:
        with serving(TripoServer(), cluster.host_address) as tripo:
            await put_secret(kube, namespace, {"OPENAI_API_KEY": "sk-unrelated-key-123456"})
            config = tripo_config(tripo) | plain_http(cluster.host_address) | FAST_POLLS
            await put_config_map(kube, namespace, config)
            with running_operator(
                cluster, namespace, redis_server.url, tmp_path, operator_task_env()
            ):
                body = task_body(
                    "gen3d-nokey", "generate_3d", {"user_id": "ada", "prompt": "a tee"}, retries=3
                )
                task = await run_to_end(kube, namespace, body)
                record = await dlq_record(client, "gen3d-nokey")
            assert tripo.requests == [], "no provider call without a key"
        status = task["status"]
        assert (status["phase"], status["reason"]) == ("Failed", "PermanentFailure"), status
        assert status["attempts"] == 1
        assert status["errorType"] == "MissingCredentials"
        assert "TRIPO_API_KEY is not set" in status["message"]
        assert record["error_type"] == "MissingCredentials", record
        assert "TRIPO_API_KEY is not set" in record["error"]
        assert "generate_3d" in record["error"]
        assert record["reason"] == "PermanentFailure"
        assert client.hget("devskyy:tasks:gen3d-nokey", "status") == "failed"
    finally:
        client.close()
        await kube.delete(resource_path("v1", "namespaces", name=namespace))


# ----------------------------------------------------------------- fashn_tryon


async def test_fashn_tryon(kube: KubeClient, world: World) -> None:
    model_image = "https://cdn.skyyrose.example/models/model-01.jpg"
    garment_image = "https://cdn.skyyrose.example/products/rose-hoodie.png"
    body = task_body(
        "tryon-1", "fashn_tryon",
        {"user_id": "grace", "model_image": model_image, "garment_image": garment_image,
         "category": "tops"},
    )  # fmt: skip
    result = succeeded(await run_to_end(kube, world.namespace, body))
    output = FashnTryonOutput.model_validate(result)
    assert output.task_id == "tryon-1"
    prediction = output.result.prediction_id
    assert output.result.images == [f"https://cdn.fashn.ai/{prediction}/output_0.png"]
    runs = [r for r in world.fashn.requests if r.method == "POST" and r.path == "/v1/run"]
    assert len(runs) == 1
    # FASHN gets the user's URLs verbatim; the pod never fetched them (.example never resolves).
    assert runs[0].json()["inputs"] == {
        "model_image": model_image,
        "garment_image": garment_image,
        "category": "tops",
        "num_samples": 1,
    }
    assert world.fashn.polls[prediction] > world.fashn.polls_until_done
    await redis_record(world.redis, "tryon-1", "completed")


# ----------------------------------------------------------------- marketing_campaign


async def test_marketing_email_campaign(kube: KubeClient, world: World) -> None:
    recipients = ["ada.lovelace@example.com", "grace@example.com", "bounce@example.com"]
    body = task_body(
        "campaign-1", "marketing_campaign",
        {"user_id": "demo", "campaign_id": "black-drop", "campaign_type": "email",
         "recipients": recipients,
         "content": {"topic": "BLACK collection drop", "tone": "confident"}},
    )  # fmt: skip
    result = succeeded(await run_to_end(kube, world.namespace, body))
    output = MarketingCampaignOutput.model_validate(result)
    assert output.campaign_id == "black-drop"
    assert (output.result.sent_count, output.result.failed_count) == (2, 1)
    assert output.result.campaign_type == "email"
    chats = [r for r in world.openai.requests if r.path == "/v1/chat/completions"]
    assert len(chats) == 1
    assert "black-drop" in chats[0].body.decode()
    mails = {m["To"]: m for m in world.mailbox.messages}
    assert sorted(mails) == ["ada.lovelace@example.com", "grace@example.com"]
    for address, name in (("ada.lovelace@example.com", "Ada"), ("grace@example.com", "Grace")):
        mail = mails[address]
        assert mail["From"] == SENDER
        assert mail["Subject"] == f"{name}, the BLACK collection is here"
        text = str(mail.get_payload(decode=True), "utf-8")  # type: ignore[arg-type]
        assert text.startswith(f"Hi {name},")
    record = await redis_record(world.redis, "campaign-1", "completed")
    assert json.loads(record["result"])["result"]["sent_count"] == 2


# ----------------------------------------------------------------- ml_training, ml_prediction


async def test_sentiment_training_then_prediction(kube: KubeClient, world: World) -> None:
    training = task_body(
        "train-sentiment", "ml_training",
        {"user_id": "demo", "model_id": "sentiment_analyzer",
         "training_data_path": SENTIMENT_CSV, "hyperparameters": {"random_state": 42},
         "epochs": 5},
    )  # fmt: skip
    trained = MLTrainingOutput.model_validate(
        succeeded(await run_to_end(kube, world.namespace, training))
    )
    metrics = trained.result
    extra = metrics.extra_metrics or {}
    assert sorted(extra["classes"]) == ["negative", "neutral", "positive"]
    # 3 classes: chance ~0.33, majority (negative) ~0.42 of the 38k tweets.
    assert metrics.accuracy > 0.62, metrics
    assert metrics.f1_score > 0.6, metrics
    assert metrics.training_samples > 25_000
    version = metrics.model_version
    assert version, "training must report the stored model version"
    models = world.claims["devskyy-models"].directory
    assert any(version in str(p) for p in models.rglob("*")), "model not on the models PV"
    await redis_record(world.redis, "train-sentiment", "completed")

    texts = [
        "I love this hoodie, the fabric is amazing and I am so happy",
        "terrible fit, awful quality and it arrived late. worst order ever",
    ]
    prediction = task_body(
        "predict-sentiment", "ml_prediction",
        {"user_id": "demo", "model_id": "sentiment_analyzer",
         "input_data": [{"text": t} for t in texts]},
    )  # fmt: skip
    predicted = MLPredictionOutput.model_validate(
        succeeded(await run_to_end(kube, world.namespace, prediction))
    )
    assert predicted.result.model_version == version
    predictions = predicted.result.predictions
    assert isinstance(predictions, list)
    assert len(predictions) == len(texts)
    assert [p["label"] for p in predictions] == ["positive", "negative"], predictions
    assert all(0.0 < p["score"] <= 1.0 for p in predictions)
    await redis_record(world.redis, "predict-sentiment", "completed")


# ----------------------------------------------------------------- secrets stay secret


async def test_tripo_key_never_leaks(kube: KubeClient, world: World, cluster: LocalCluster) -> None:
    """Neither success nor a provider error that quotes the key puts it anywhere we keep."""
    ok = task_body("leak-ok", "generate_3d", {"user_id": "ada", "prompt": "a rose tee"})
    echo = task_body(
        "leak-echo", "generate_3d", {"user_id": "ada", "prompt": f"tee {ECHO_MARK}"}, retries=2
    )
    await create_task(kube, world.namespace, ok)
    await create_task(kube, world.namespace, echo)
    done_ok = await wait_phase(kube, world.namespace, "leak-ok", "Succeeded", "Failed")
    done_echo = await wait_phase(kube, world.namespace, "leak-echo", "Succeeded", "Failed")
    succeeded(done_ok)
    assert done_echo["status"]["reason"] == "PermanentFailure", done_echo["status"]
    record = await dlq_record(world.redis, "leak-echo")
    assert record["error_type"] == "ProviderRequestRejected", record
    # The provider did quote the key, and the error still says what went wrong.
    echoed = [r for r in world.tripo.requests if ECHO_MARK in r.body.decode(errors="replace")]
    assert echoed
    assert bearer(echoed[0]) == TRIPO_KEY
    assert f"prompt rejected for API key {MASK}" in record["error"], record["error"]

    places: dict[str, str] = {"dlq": json.dumps(record)}
    for name in ("leak-ok", "leak-echo"):
        places[f"pod log {name}"] = await pod_logs(kube, cluster, world.namespace, name)
        places[f"CR {name}"] = json.dumps(await get_task(kube, world.namespace, name))
        job = await kube.get(resource_path("batch/v1", "jobs", world.namespace, name))
        places[f"Job {name}"] = json.dumps(job)
        places[f"Redis {name}"] = json.dumps(world.redis.hgetall(f"devskyy:tasks:{name}"))
    events = await kube.list(resource_path("v1", "events", world.namespace))
    assert events, "the operator and controllers record events"
    places["events"] = json.dumps(events)
    places["operator log"] = world.operator.log()
    # The logs are the real ones and did carry the key-bearing error, masked.
    assert "Processing task leak-echo" in places["pod log leak-echo"]
    assert f"prompt rejected for API key {MASK}" in places["pod log leak-echo"]
    assert f"prompt rejected for API key {MASK}" in places["CR leak-echo"]
    for where, text in places.items():
        assert TRIPO_KEY not in text, f"the Tripo key leaked into the {where}"


# ----------------------------------------------------------------- the shipped examples


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tasks"


async def test_every_example_task_completes_against_the_loopback_providers(
    kube: KubeClient, world: World
) -> None:
    """`examples/tasks/*.yaml` as shipped: providers on loopback, ML on real data."""
    from devskyy_devcluster.sample_data import write_sample_datasets

    write_sample_datasets(world.claims["devskyy-datasets"].directory)
    first = sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "ml_prediction.yaml")
    assert {p.stem for p in first} >= {
        "diagnostic", "generate_3d", "fashn_tryon", "marketing_campaign", "ml_training",
    }  # fmt: skip
    bodies = [yaml.safe_load(p.read_text()) for p in first]
    for body in bodies:
        await create_task(kube, world.namespace, body)
    for body in bodies:
        name = body["metadata"]["name"]
        task = await wait_phase(kube, world.namespace, name, "Succeeded", "Failed", timeout=200)
        assert succeeded(task)["completed_at"], name
    prediction = yaml.safe_load((EXAMPLES / "ml_prediction.yaml").read_text())
    result = succeeded(await run_to_end(kube, world.namespace, prediction))
    output = MLPredictionOutput.model_validate(result)
    assert isinstance(output.result.predictions, list)
    assert len(output.result.predictions) == 2
