"""Result caching on the real control plane, node and Redis.

The operator runs with result caching on for diagnostic tasks. A task that ran
leaves its result under its key; an identical task (fields in another order,
a default spelled out) then ends Succeeded with cacheHit and the first task's
id, and the apiserver holds no Job for it. A task that opts out, and a type
with side effects, are never served from the cache.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import NotFound
from tests.observability.exposition import value
from tests.support.cluster import kubectl
from tests.support.operator_process import OperatorProcess, running_operator
from tests.support.tasks import create_task, diagnostic, jobs_of, task_body, wait_phase
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240), pytest.mark.usefixtures("devskyy_crd")]

CACHING = {
    "DEVSKYY_RESULT_CACHE__DIAGNOSTIC__ENABLED": "true",
    "DEVSKYY_RESULT_CACHE__DIAGNOSTIC__TTL_SECONDS": "600",
}
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
