"""The operator on the real control plane with real Redis: outcomes, DLQ, admission, crashes.

Each test gets its own namespace (Pod Security "restricted" enforced, so every
Job the operator builds must pass it) and its own operator process. Task pods
run `devskyy-task` for real on the node (kubelet + containerd, the task image).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import Invalid
from tests.support.cluster import job_pods, kubectl
from tests.support.operator_process import OperatorProcess, running_operator, start_operator
from tests.support.tasks import (
    create_task,
    diagnostic,
    get_task,
    jobs_of,
    task_body,
    tasks_path,
    wait_phase,
)
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240), pytest.mark.usefixtures("devskyy_crd")]

SEVEN_DAYS = 7 * 24 * 3600


@pytest.fixture
def operator(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    with running_operator(cluster, namespace, redis_url, tmp_path) as process:
        yield process


def dlq(redis_client: redis.Redis, task_id: str) -> dict[str, Any]:
    raw = redis_client.get(f"devskyy:dlq:{task_id}")
    assert raw is not None, f"no DLQ record for {task_id}"
    return dict(json.loads(str(raw)))


@pytest.mark.usefixtures("operator")
async def test_success_lands_in_status_redis_and_printer_columns(
    kube: KubeClient, namespace: str, redis_client: redis.Redis, cluster: LocalCluster
) -> None:
    await create_task(kube, namespace, diagnostic("ok-1", sleep_seconds=0.2, result={"n": 7}))
    task = await wait_phase(kube, namespace, "ok-1", "Succeeded", "Failed")
    status = task["status"]
    assert status["phase"] == "Succeeded", status
    assert status["result"]["status"] == "success"
    assert status["result"]["result"] == {"n": 7}
    assert status["attempts"] == 1
    assert status["workerHost"] == cluster.node_name
    record = redis_client.hgetall("devskyy:tasks:ok-1")
    assert record["status"] == "completed"
    assert record["task_type"] == "diagnostic"
    assert json.loads(record["result"])["result"] == {"n": 7}
    assert record["worker_host"] == cluster.node_name
    assert record["started_at"]
    assert record["completed_at"]
    assert redis_client.get("devskyy:dlq:ok-1") is None
    table = kubectl(cluster, "get", "dst", "-n", namespace, "-o", "wide").stdout
    header = table.splitlines()[0].split()
    assert header[:7] == ["NAME", "TYPE", "PHASE", "PRIORITY", "ATTEMPTS", "USER", "AGE"]
    assert header[7:] == ["TIER", "REASON", "JOB", "COST", "CACHED-FROM"]
    assert "Succeeded" in table
    assert "alice" in table


async def test_the_log_has_one_line_per_step_and_none_from_kopf_per_event(
    kube: KubeClient, namespace: str, operator: OperatorProcess
) -> None:
    """At the deployed level (INFO) a task logs its admission and its outcome; kopf's
    "Handler ... succeeded." for every event it delivered (three per task) does not."""
    await create_task(kube, namespace, diagnostic("log-1", sleep_seconds=0.2))
    task = await wait_phase(kube, namespace, "log-1", "Succeeded", "Failed")
    assert task["status"]["phase"] == "Succeeded", task["status"]

    async def completed_line() -> list[str] | None:
        lines = operator.log().splitlines()
        return lines if any("Task log-1 completed (status: success)" in x for x in lines) else None

    lines = await eventually(completed_line, timeout=30, what="the task's completion line")
    assert sum("Processing task log-1 (type: diagnostic)" in x for x in lines) == 1
    assert [x for x in lines if "kopf.objects" in x] == []


@pytest.mark.usefixtures("operator")
async def test_retries_then_dead_letter(
    kube: KubeClient, namespace: str, redis_client: redis.Redis
) -> None:
    await create_task(kube, namespace, diagnostic("flaky", exit_code=3, retries=2))
    task = await wait_phase(kube, namespace, "flaky", "Succeeded", "Failed", timeout=180)
    status = task["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "BackoffLimitExceeded")
    assert status["attempts"] == 3
    assert status["exitCode"] == 3
    assert len(await job_pods(kube, namespace, "flaky")) == 3
    record = dlq(redis_client, "flaky")
    for field in ("task_id", "task_data", "error", "error_type", "failed_at", "worker_host"):
        assert field in record
    assert record["attempts"] == 3
    assert record["exit_code"] == 3
    assert record["reason"] == "BackoffLimitExceeded"
    assert record["task_data"]["exit_code"] == 3
    assert SEVEN_DAYS - 120 < redis_client.ttl("devskyy:dlq:flaky") <= SEVEN_DAYS
    assert redis_client.zscore("devskyy:dlq-index", "flaky") is not None
    assert redis_client.hget("devskyy:tasks:flaky", "status") == "failed"


@pytest.mark.usefixtures("operator")
async def test_timeout_is_deadline_exceeded(
    kube: KubeClient, namespace: str, redis_client: redis.Redis
) -> None:
    await create_task(kube, namespace, diagnostic("slow", sleep_seconds=120, timeoutSeconds=3))
    task = await wait_phase(kube, namespace, "slow", "Succeeded", "Failed")
    assert task["status"]["reason"] == "DeadlineExceeded"
    assert dlq(redis_client, "slow")["reason"] == "DeadlineExceeded"


@pytest.mark.usefixtures("operator")
async def test_permanent_exit_code_is_not_retried(
    kube: KubeClient, namespace: str, redis_client: redis.Redis
) -> None:
    await create_task(kube, namespace, diagnostic("perm", exit_code=42, retries=3))
    task = await wait_phase(kube, namespace, "perm", "Succeeded", "Failed")
    assert task["status"]["reason"] == "PermanentFailure"
    assert task["status"]["attempts"] == 1
    assert len(await job_pods(kube, namespace, "perm")) == 1
    assert dlq(redis_client, "perm")["exit_code"] == 42


async def test_priority_order_and_concurrency_limit(
    kube: KubeClient, namespace: str, redis_url: str, cluster: LocalCluster, tmp_path: Path
) -> None:
    extra = {"DEVSKYY_CONCURRENCY__DIAGNOSTIC": "1"}
    with running_operator(cluster, namespace, redis_url, tmp_path, extra):
        await create_task(kube, namespace, diagnostic("blocker", sleep_seconds=3, priority=1))
        await wait_phase(kube, namespace, "blocker", "Running")
        await create_task(kube, namespace, diagnostic("low", priority=1))
        await create_task(kube, namespace, diagnostic("mid", priority=5))
        await create_task(kube, namespace, diagnostic("high", priority=9))
        done = [
            await wait_phase(kube, namespace, n, "Succeeded")
            for n in ("blocker", "low", "mid", "high")
        ]
    admitted = {t["metadata"]["name"]: t["status"]["admittedAt"] for t in done}
    assert admitted["blocker"] <= admitted["high"] <= admitted["mid"] <= admitted["low"]
    jobs = await jobs_of(kube, namespace)
    spans = sorted((j["status"]["startTime"], j["status"]["completionTime"]) for j in jobs)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, f"two Jobs ran at once with concurrency 1: {spans}"


async def test_operator_killed_after_job_creation_converges_with_one_job(
    kube: KubeClient, namespace: str, redis_url: str, cluster: LocalCluster, tmp_path: Path
) -> None:
    first = start_operator(cluster, namespace, redis_url, tmp_path)
    try:
        await create_task(kube, namespace, diagnostic("crash", sleep_seconds=2))

        async def job_exists() -> dict[str, Any] | None:
            jobs = await jobs_of(kube, namespace)
            return jobs[0] if jobs else None

        job = await eventually(job_exists, timeout=60, interval=0.02, what="the Job")
        first.kill()
    finally:
        first.kill()
    with running_operator(cluster, namespace, redis_url, tmp_path):
        task = await wait_phase(kube, namespace, "crash", "Succeeded", "Failed")
    assert task["status"]["phase"] == "Succeeded"
    jobs = await jobs_of(kube, namespace)
    assert [j["metadata"]["uid"] for j in jobs] == [job["metadata"]["uid"]]
    assert len(await job_pods(kube, namespace, "crash")) == 1


async def test_operator_down_while_job_finishes(
    kube: KubeClient,
    namespace: str,
    redis_url: str,
    redis_client: redis.Redis,
    cluster: LocalCluster,
    tmp_path: Path,
) -> None:
    with running_operator(cluster, namespace, redis_url, tmp_path):
        await create_task(kube, namespace, diagnostic("offline", sleep_seconds=2, result={"x": 1}))
        await wait_phase(kube, namespace, "offline", "Running")

    async def job_complete() -> bool:
        job = await kube.get(resource_path("batch/v1", "jobs", namespace, "offline"))
        return any(c["type"] == "Complete" for c in job.get("status", {}).get("conditions") or [])

    await eventually(job_complete, timeout=60, what="the Job to complete without an operator")
    assert (await get_task(kube, namespace, "offline"))["status"]["phase"] == "Running"
    with running_operator(cluster, namespace, redis_url, tmp_path):
        task = await wait_phase(kube, namespace, "offline", "Succeeded", "Failed")
    assert task["status"]["result"]["result"] == {"x": 1}
    assert redis_client.hget("devskyy:tasks:offline", "status") == "completed"


@pytest.mark.usefixtures("operator")
async def test_job_deleted_by_hand_fails_task_once(
    kube: KubeClient, namespace: str, redis_client: redis.Redis
) -> None:
    await create_task(kube, namespace, diagnostic("orphan", sleep_seconds=60))
    await wait_phase(kube, namespace, "orphan", "Running")
    await kube.delete(resource_path("batch/v1", "jobs", namespace, "orphan"))
    task = await wait_phase(kube, namespace, "orphan", "Failed", "Succeeded")
    assert task["status"]["reason"] == "JobDeleted"
    assert dlq(redis_client, "orphan")["reason"] == "JobDeleted"
    assert redis_client.zcount("devskyy:dlq-index", "-inf", "+inf") == 1


@pytest.mark.usefixtures("operator")
async def test_spec_the_models_refuse_is_a_final_failure_like_any_other(
    kube: KubeClient, namespace: str, redis_client: redis.Redis
) -> None:
    """The CRD cannot check that email recipients are addresses; the models do."""
    campaign = {"user_id": "alice", "campaign_id": "c1", "campaign_type": "email",
                "recipients": ["not-an-address"]}  # fmt: skip
    await create_task(kube, namespace, task_body("no-address", "marketing_campaign", campaign))
    task = await wait_phase(kube, namespace, "no-address", "Failed", "Succeeded", "Running")
    status = task["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "InvalidSpec"), status
    assert status["errorType"] == "InvalidTaskInput"
    assert "not an email address" in status["message"]
    assert status["deadLetteredAt"] == status["completedAt"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Failed"]["status"] == "True"
    assert (conditions["DeadLettered"]["status"], conditions["DeadLettered"]["message"]) == (
        "True", "devskyy:dlq:no-address",
    )  # fmt: skip
    record = dlq(redis_client, "no-address")
    assert (record["reason"], record["error_type"]) == ("InvalidSpec", "InvalidTaskInput")
    assert record["task_data"]["campaign_id"] == "c1"
    assert await jobs_of(kube, namespace) == []


@pytest.mark.usefixtures("operator")
async def test_deleting_a_running_task_removes_job_and_pods(
    kube: KubeClient, namespace: str, redis_client: redis.Redis
) -> None:
    await create_task(kube, namespace, diagnostic("doomed", sleep_seconds=120))
    await wait_phase(kube, namespace, "doomed", "Running")
    await eventually(lambda: job_pods(kube, namespace, "doomed"), what="a pod")
    await kube.delete(tasks_path(namespace, "doomed"))

    async def all_gone() -> bool:
        jobs = await jobs_of(kube, namespace)
        pods = await job_pods(kube, namespace, "doomed")
        return not jobs and not pods

    await eventually(all_gone, timeout=90, what="Job and pods to be deleted")
    record = redis_client.hgetall("devskyy:tasks:doomed")
    assert record["status"] == "failed"
    assert record.get("cancelled") == "1"


async def test_two_replicas_never_create_duplicate_jobs(
    kube: KubeClient, namespace: str, redis_url: str, cluster: LocalCluster, tmp_path: Path
) -> None:
    with (
        running_operator(cluster, namespace, redis_url, tmp_path) as one,
        running_operator(cluster, namespace, redis_url, tmp_path) as two,
    ):
        names = [f"pair-{i}" for i in range(6)]
        await asyncio.gather(*(create_task(kube, namespace, diagnostic(n)) for n in names))
        for name in names:
            await wait_phase(kube, namespace, name, "Succeeded")

        def ready(process: OperatorProcess) -> int:
            url = f"http://127.0.0.1:{process.health_port}/readyz"
            return httpx.get(url, timeout=5).status_code

        assert sorted([ready(one), ready(two)]) == [200, 503]
    for name in names:
        assert len(await job_pods(kube, namespace, name)) == 1
    assert len(await jobs_of(kube, namespace)) == len(names)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            diagnostic("bad-prio", priority=5)
            | {"spec": {"type": "diagnostic", "priority": "high", "input": {"user_id": "a"}}},
            "priority",
        ),
        ({"spec": {"type": "diagnostic"}}, "input"),
        (diagnostic("bad-timeout", timeoutSeconds=999_999), "timeoutSeconds"),
        (
            {"spec": {"type": "generate_3d", "input": {"user_id": "a", "prompt": "x" * 5000}}},
            "prompt",
        ),
        (
            {
                "spec": {
                    "type": "ml_training",
                    "input": {
                        "user_id": "a",
                        "model_id": "trend_predictor",
                        "training_data_path": "../../etc/passwd",
                    },
                }
            },
            "training_data_path",
        ),
        ({"spec": {"type": "nope", "input": {"user_id": "a"}}}, "type"),
    ],
)
async def test_apiserver_rejects_bad_tasks_naming_the_field(
    kube: KubeClient, namespace: str, body: dict[str, Any], needle: str
) -> None:
    full = diagnostic("bad-task") | body
    full["metadata"] = {"name": "bad-task"}
    with pytest.raises(Invalid) as caught:  # 422, as its own class
        await create_task(kube, namespace, full)
    assert needle in caught.value.message


async def test_spec_is_immutable(kube: KubeClient, namespace: str) -> None:
    await create_task(kube, namespace, diagnostic("frozen", sleep_seconds=1))
    with pytest.raises(Invalid) as caught:
        await kube.patch(tasks_path(namespace, "frozen"), {"spec": {"priority": 999}})
    assert "immutable" in caught.value.message
