"""Result caching on the real control plane, node and Redis.

ml_prediction: the key holds the model version, which the operator learns from
the outputs of succeeded trainings and predictions (the models volume is the
pods'); a new training makes the next identical prediction run again.

The operator runs with result caching on for diagnostic tasks. A task that ran
leaves its result under its key; an identical task (fields in another order,
a default spelled out) then ends Succeeded with cacheHit and the first task's
id, and the apiserver holds no Job for it. A task that opts out, and a type
with side effects, are never served from the cache.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis
import yaml

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import NotFound
from tests.agents import ml_data
from tests.api.conftest import app_client, auth, settings_for
from tests.bridge.support import running_bridge
from tests.observability.exposition import value
from tests.support.cluster import kubectl
from tests.support.operator_process import OperatorProcess, running_operator
from tests.support.providers_env import operator_task_env
from tests.support.storage import bound_claims
from tests.support.tasks import create_task, diagnostic, jobs_of, task_body, wait_phase
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240), pytest.mark.usefixtures("devskyy_crd")]

CACHING = {
    "DEVSKYY_RESULT_CACHE__DIAGNOSTIC__ENABLED": "true",
    "DEVSKYY_RESULT_CACHE__DIAGNOSTIC__TTL_SECONDS": "600",
}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "caching"
HITS = "devskyy_result_cache_hits_total"
MISSES = "devskyy_result_cache_misses_total"


@pytest.fixture
def operator(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    with running_operator(cluster, namespace, redis_url, tmp_path, CACHING) as process:
        yield process


async def job_named(kube: KubeClient, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return await kube.get(resource_path("batch/v1", "jobs", namespace, name))
    except NotFound:
        return None


async def jobs_labelled(kube: KubeClient, namespace: str, task_id: str) -> list[dict[str, Any]]:
    return await kube.list(
        resource_path("batch/v1", "jobs", namespace),
        labelSelector=f"{keys.LABEL_TASK_ID}={task_id}",
    )


async def counted(operator: OperatorProcess, name: str, expected: float) -> bool:
    return value(operator.metrics(), name, type="diagnostic") == expected


async def test_an_identical_task_is_served_from_the_cache_without_a_job(
    kube: KubeClient,
    namespace: str,
    redis_client: redis.Redis,
    operator: OperatorProcess,
    cluster: LocalCluster,
) -> None:
    first = diagnostic("ran-first", result={"answer": 42, "colour": "black"})
    await create_task(kube, namespace, first)
    done = await wait_phase(kube, namespace, "ran-first", "Succeeded", "Failed")
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert "cacheHit" not in done["status"]
    assert await job_named(kube, namespace, "ran-first") is not None  # it ran as a Job

    async def entry_written() -> list[str]:
        return list(redis_client.scan_iter(match=f"{keys.RESULT_CACHE_PREFIX}*"))

    (entry_key,) = await eventually(entry_written, timeout=30, what="the cache entry")
    entry = json.loads(str(redis_client.get(entry_key)))
    assert entry["task_id"] == "ran-first"
    assert 0 < int(redis_client.ttl(entry_key)) <= 600

    # The same input: other field order, defaults written out.
    same = task_body(
        "served-second", "diagnostic",
        {"result": {"colour": "black", "answer": 42}, "exit_code": 0, "fail_attempts": 0,
         "user_id": "alice"},
    )  # fmt: skip
    await create_task(kube, namespace, same)
    served = await wait_phase(kube, namespace, "served-second", "Succeeded", "Failed")
    status = served["status"]
    assert (status["phase"], status["reason"]) == ("Succeeded", "CacheHit"), status
    assert status["cacheHit"] is True
    assert status["cachedFrom"] == "ran-first"
    assert status["result"] == done["status"]["result"]
    assert status["attempts"] == 0
    assert "jobName" not in status
    # No Job was ever created for it: none by its name, none with its label.
    assert await job_named(kube, namespace, "served-second") is None
    assert await jobs_labelled(kube, namespace, "served-second") == []
    assert [j["metadata"]["name"] for j in await jobs_of(kube, namespace)] == ["ran-first"]

    record = redis_client.hgetall(keys.task_key("served-second"))
    assert record["status"] == "completed"
    assert (record["cache_hit"], record["cached_from"]) == ("1", "ran-first")
    assert json.loads(record["result"]) == done["status"]["result"]
    assert "started_at" not in record or not record["started_at"]

    await eventually(lambda: counted(operator, HITS, 1.0), timeout=10, what="one hit counted")
    assert value(operator.metrics(), MISSES, type="diagnostic") == 1.0  # the first task
    table = kubectl(cluster, "get", "dst", "-n", namespace, "-o", "wide").stdout
    rows = {line.split()[0]: line.split() for line in table.splitlines()[1:]}
    assert table.splitlines()[0].split()[-1] == "CACHED-FROM"
    assert rows["served-second"][-1] == "ran-first"
    assert rows["served-second"][2] == "Succeeded"


async def test_an_opted_out_task_and_a_type_with_side_effects_always_run(
    kube: KubeClient, namespace: str, redis_client: redis.Redis, operator: OperatorProcess
) -> None:
    await create_task(kube, namespace, diagnostic("runs-once", result={"n": 1}))
    first = await wait_phase(kube, namespace, "runs-once", "Succeeded", "Failed")
    assert first["status"]["phase"] == "Succeeded"

    opted_out = diagnostic("runs-again", result={"n": 1})
    opted_out["spec"]["cache"] = {"enabled": False}
    await create_task(kube, namespace, opted_out)
    again = await wait_phase(kube, namespace, "runs-again", "Succeeded", "Failed")
    assert again["status"]["phase"] == "Succeeded"
    assert "cacheHit" not in again["status"]
    assert again["status"]["jobName"] == "runs-again"
    assert await job_named(kube, namespace, "runs-again") is not None

    campaign = task_body(
        "campaign-cached", "marketing_campaign",
        {"user_id": "alice", "campaign_id": "spring", "campaign_type": "email",
         "recipients": ["a@example.com"]},
    )  # fmt: skip
    campaign["spec"]["cache"] = {"enabled": True}
    await create_task(kube, namespace, campaign)
    refused = await wait_phase(kube, namespace, "campaign-cached", "Succeeded", "Failed")
    status = refused["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "InvalidSpec"), status
    assert "spec.cache.enabled" in status["message"]
    assert "side effects" in status["message"]
    assert await job_named(kube, namespace, "campaign-cached") is None
    assert value(operator.metrics(), HITS) == 0.0


async def test_a_task_queued_behind_an_identical_one_is_served_when_it_succeeds(
    kube: KubeClient, namespace: str, cluster: LocalCluster, redis_url: str, tmp_path: Path
) -> None:
    """One diagnostic at a time: the second, identical task misses when created
    (the first still runs), waits Queued, and is served at admission: no Job."""
    env = {**CACHING, "DEVSKYY_CONCURRENCY__DIAGNOSTIC": "1"}
    with running_operator(cluster, namespace, redis_url, tmp_path, env) as process:
        await create_task(kube, namespace, diagnostic("slow-first", sleep_seconds=3.0))
        await wait_phase(kube, namespace, "slow-first", "Running")
        await create_task(kube, namespace, diagnostic("queued-twin", sleep_seconds=3.0))
        await wait_phase(kube, namespace, "queued-twin", "Queued")
        served = await wait_phase(kube, namespace, "queued-twin", "Succeeded", "Failed")
        assert (served["status"]["reason"], served["status"]["cachedFrom"]) == (
            "CacheHit", "slow-first",
        ), served["status"]  # fmt: skip
        first = await wait_phase(kube, namespace, "slow-first", "Succeeded")
        assert served["status"]["result"] == first["status"]["result"]
        assert await job_named(kube, namespace, "queued-twin") is None
        metrics = process.metrics()
        assert value(metrics, HITS, type="diagnostic") == 1.0
        assert value(metrics, MISSES, type="diagnostic") == 2.0  # both missed when created


async def test_the_examples_opt_in_per_task_without_a_type_setting(
    kube: KubeClient, namespace: str, cluster: LocalCluster, redis_url: str, tmp_path: Path
) -> None:
    """examples/caching as shipped, with an operator that caches no type by default."""
    first = yaml.safe_load((EXAMPLES / "diagnostic-first.yaml").read_text())
    again = yaml.safe_load((EXAMPLES / "diagnostic-again.yaml").read_text())
    with running_operator(cluster, namespace, redis_url, tmp_path) as plain:
        await create_task(kube, namespace, first)
        ran = await wait_phase(kube, namespace, "cache-demo-first", "Succeeded", "Failed")
        assert ran["status"]["jobName"] == "cache-demo-first", ran["status"]
        await create_task(kube, namespace, again)
        served = await wait_phase(kube, namespace, "cache-demo-again", "Succeeded", "Failed")
        assert served["status"]["reason"] == "CacheHit", served["status"]
        assert served["status"]["cachedFrom"] == "cache-demo-first"
        assert await job_named(kube, namespace, "cache-demo-again") is None
        assert value(plain.metrics(), HITS, type="diagnostic") == 1.0


async def test_through_the_api_door_the_view_names_the_task_that_ran(
    kube: KubeClient, namespace: str, cluster: LocalCluster, redis_url: str, tmp_path: Path
) -> None:
    """POST /v1/tasks -> Redis -> bridge -> DevSkyyTask -> the operator's lookup."""
    body = {"type": "diagnostic", "input": {"user_id": "alice", "result": {"k": "v"}},
            "cache": {"enabled": True}}  # fmt: skip
    with (
        running_operator(cluster, namespace, redis_url, tmp_path),
        running_bridge(cluster.kubeconfig, namespace, redis_url, tmp_path),
    ):
        async with app_client(settings_for(redis_url)) as api:

            async def finished(task_id: str) -> dict[str, Any] | None:
                view = (await api.get(f"/v1/tasks/{task_id}", headers=auth("alice"))).json()
                return view if view["status"] in ("completed", "failed") else None

            posted = await api.post("/v1/tasks", json=body, headers=auth("alice"))
            first = posted.json()["id"]
            ran = await eventually(lambda: finished(first), timeout=120, what="the first task")
            assert (ran["status"], ran["cache_hit"]) == ("completed", False), ran
            second = (await api.post("/v1/tasks", json=body, headers=auth("alice"))).json()["id"]
            view = await eventually(lambda: finished(second), timeout=60, what="the second task")
            assert (view["status"], view["cache_hit"], view["cached_from"]) == (
                "completed", True, first,
            )  # fmt: skip
            assert view["result"] == ran["result"]
            assert await job_named(kube, namespace, second) is None
            assert await jobs_labelled(kube, namespace, second) == []
            refused = await api.post(
                "/v1/tasks", headers=auth("alice"),
                json={"type": "marketing_campaign", "cache": {"enabled": True},
                      "input": {"user_id": "alice", "campaign_id": "spring",
                                "campaign_type": "email", "recipients": ["a@example.com"]}},
            )  # fmt: skip
            assert refused.status_code == 422
            assert refused.json()["errors"][0]["field"] == "cache.enabled"


# ----------------------------------------------------------------- ml_prediction

IRIS = "iris.csv"
MODEL = "customer_segmentation"


@pytest_asyncio.fixture
async def ml_operator(
    cluster: LocalCluster, kube: KubeClient, namespace: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[OperatorProcess]:
    claims = {"devskyy-datasets": "datasets", "devskyy-models": "models"}
    async with bound_claims(kube, namespace, tmp_path / "volumes", claims) as bound:
        ml_data.write(bound["devskyy-datasets"].directory, IRIS, ml_data.iris())
        env = operator_task_env(
            secret=None, config_map=None,
            claims={"datasets": "devskyy-datasets", "models": "devskyy-models"},
        )  # fmt: skip
        env["DEVSKYY_RESULT_CACHE__ML_PREDICTION__ENABLED"] = "true"
        with running_operator(cluster, namespace, redis_url, tmp_path, env) as process:
            yield process


def training(name: str, clusters: int) -> dict[str, Any]:
    task_input = {"user_id": "alice", "model_id": MODEL, "training_data_path": IRIS,
                  "hyperparameters": {"n_clusters": clusters, "random_state": 1}}  # fmt: skip
    return task_body(name, "ml_training", task_input)


def prediction(name: str, version: str | None = None) -> dict[str, Any]:
    row = ml_data.iris().drop(columns=["label"]).iloc[0].to_dict()
    task_input: dict[str, Any] = {"user_id": "alice", "model_id": MODEL, "input_data": [row]}
    if version is not None:
        task_input["model_version"] = version
    return task_body(name, "ml_prediction", task_input)


async def run(kube: KubeClient, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    await create_task(kube, namespace, body)
    name = body["metadata"]["name"]
    done = await wait_phase(kube, namespace, name, "Succeeded", "Failed", timeout=180)
    status: dict[str, Any] = done["status"]
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    return status


@pytest.mark.timeout(300)
async def test_a_new_model_version_makes_an_identical_prediction_run_again(
    kube: KubeClient, namespace: str, redis_client: redis.Redis, ml_operator: OperatorProcess
) -> None:
    latest = keys.model_latest_key(MODEL)
    v1 = (await run(kube, namespace, training("train-one", 3)))["result"]["result"]["model_version"]
    await eventually(lambda: _equals(redis_client, latest, v1), timeout=10, what="v1 noted")

    first = await run(kube, namespace, prediction("predict-ran"))
    assert first["result"]["result"]["model_version"] == v1
    assert first["jobName"] == "predict-ran"
    hit = await run(kube, namespace, prediction("predict-hit"))
    assert (hit["reason"], hit["cacheHit"], hit["cachedFrom"]) == ("CacheHit", True, "predict-ran")
    assert hit["result"] == first["result"]
    assert await job_named(kube, namespace, "predict-hit") is None

    v2 = (await run(kube, namespace, training("train-two", 4)))["result"]["result"]["model_version"]
    assert v2 > v1
    await eventually(lambda: _equals(redis_client, latest, v2), timeout=10, what="v2 noted")
    after = await run(kube, namespace, prediction("predict-new-version"))
    assert "cacheHit" not in after
    assert after["jobName"] == "predict-new-version"
    assert after["result"]["result"]["model_version"] == v2
    assert await job_named(kube, namespace, "predict-new-version") is not None

    # Pinned to v1, the prediction is the one that ran on v1 (same key as unpinned then).
    pinned = await run(kube, namespace, prediction("predict-pinned", v1))
    assert (pinned["cacheHit"], pinned["cachedFrom"]) == (True, "predict-ran")
    assert await job_named(kube, namespace, "predict-pinned") is None
    metrics = ml_operator.metrics()
    assert value(metrics, HITS, type="ml_prediction") == 2.0
    assert value(metrics, MISSES, type="ml_prediction") == 2.0


async def _equals(client: redis.Redis, key: str, expected: str) -> bool:
    return client.get(key) == expected
