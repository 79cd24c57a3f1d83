"""The kubectl door refuses what the API door refuses, against the real apiserver
and operator: resource maxima, input size, schedule horizon, forged outcomes.

Each manifest is applied as a user would (kubectl apply). The apiserver refuses
it naming the field, or the operator fails it within seconds with a clear reason
and no Job; none holds a slot or a pod until its deadline.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from devskyy_agents.models import MAX_INPUT_BYTES, serialized_input
from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient, resource_path
from tests.support.cluster import kubectl
from tests.support.operator_process import OperatorProcess, running_operator
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


def campaign(name: str, **fields: Any) -> dict[str, Any]:
    task_input = {
        "user_id": "alice", "campaign_id": "spring", "campaign_type": "email",
        "recipients": ["a@example.com"], **fields,
    }  # fmt: skip
    return task_body(name, "marketing_campaign", task_input)


def training(name: str, path: str) -> dict[str, Any]:
    task_input = {"user_id": "alice", "model_id": "trend_predictor", "training_data_path": path}
    return task_body(name, "ml_training", task_input)


def with_resources(body: dict[str, Any], **parts: dict[str, str]) -> dict[str, Any]:
    body["spec"]["resources"] = parts
    return body


def apply(cluster: LocalCluster, namespace: str, body: dict[str, Any]) -> tuple[int, str]:
    done = kubectl(
        cluster, "apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump(body), check=False
    )
    return done.returncode, done.stderr


REFUSED_BY_THE_APISERVER = [
    (
        with_resources(diagnostic("huge-cpu"), requests={"cpu": "1000000"}),
        "spec.resources.requests.cpu",
        "must be at most 4 for type diagnostic",
    ),
    (
        with_resources(diagnostic("huge-memory"), requests={"memory": "999999999Gi"}),
        "spec.resources.requests.memory",
        "must be at most 8Gi for type diagnostic",
    ),
    (
        with_resources(diagnostic("huge-limit"), limits={"cpu": "1000000"}),
        "spec.resources.limits.cpu",
        "must be at most 4 for type diagnostic",
    ),
    (
        with_resources(training("ml-limit", "a.csv"), limits={"ephemeralStorage": "21Gi"}),
        "spec.resources.limits.ephemeralStorage",
        "must be at most 20Gi for type ml_training",
    ),
    (campaign("nobody", recipients=[]), "spec.input.recipients", "at least 1 items"),
    (
        training("percent", "datasets/%2e%2e/%2e%2e/etc/passwd"),
        "spec.input.training_data_path",
        "percent-encoding",
    ),
    (
        campaign("many", campaign_type="seo", recipients=["p" * 254] * 300),
        "spec.input.recipients",
        f"larger than {MAX_INPUT_BYTES} bytes",
    ),
]


@pytest.mark.parametrize(
    ("body", "field", "why"),
    REFUSED_BY_THE_APISERVER,
    ids=[b["metadata"]["name"] for b, _, _ in REFUSED_BY_THE_APISERVER],
)
async def test_the_apiserver_refuses_naming_the_field(
    kube: KubeClient,
    cluster: LocalCluster,
    namespace: str,
    body: dict[str, Any],
    field: str,
    why: str,
) -> None:
    code, stderr = apply(cluster, namespace, body)
    assert code != 0
    assert field in stderr, stderr
    assert why in stderr, stderr
    assert await kube.list(tasks_path(namespace)) == []


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


def sized_input(total: int) -> dict[str, Any]:
    """A diagnostic input of exactly `total` bytes serialized (what the limit measures)."""
    envelope = len(serialized_input({"user_id": "alice", "result": {"filler": ""}}))
    return {"user_id": "alice", "result": {"filler": "x" * (total - envelope)}}


@pytest.mark.usefixtures("operator")
async def test_inputs_over_the_limit_fail_at_once_without_a_job(
    kube: KubeClient, cluster: LocalCluster, namespace: str, redis_client: redis.Redis
) -> None:
    """Free-form input is invisible to CEL: the apiserver stores 100 KB and 200 KB
    inputs, the operator fails them within seconds (no Job, no pod to hang)."""
    for name, size in (("input-100k", 100_000), ("input-200k", 200_000)):
        code, stderr = apply(cluster, namespace, task_body(name, "diagnostic", sized_input(size)))
        assert code == 0, stderr
    for name, size in (("input-100k", 100_000), ("input-200k", 200_000)):
        task = await wait_phase(kube, namespace, name, "Failed", "Succeeded", timeout=20)
        status = task["status"]
        assert (status["phase"], status["reason"]) == ("Failed", "InvalidSpec")
        assert f"larger than {MAX_INPUT_BYTES} bytes serialized ({size} bytes)" in status["message"]
        assert status["message"].startswith("input:")
        assert dlq(redis_client, name)["reason"] == "InvalidSpec"
    assert await jobs_of(kube, namespace) == []


@pytest.mark.usefixtures("operator")
async def test_the_largest_accepted_input_runs_to_succeeded(
    kube: KubeClient, cluster: LocalCluster, namespace: str, redis_client: redis.Redis
) -> None:
    """The spec reaches the pod whole at the limit: the pod validates all of it."""
    largest = sized_input(MAX_INPUT_BYTES)
    assert len(serialized_input(largest)) == MAX_INPUT_BYTES
    over = sized_input(MAX_INPUT_BYTES + 1)
    code, stderr = apply(cluster, namespace, task_body("largest", "diagnostic", largest))
    assert code == 0, stderr
    code, stderr = apply(cluster, namespace, task_body("one-more", "diagnostic", over))
    assert code == 0, stderr
    task = await wait_phase(kube, namespace, "largest", "Succeeded", "Failed", timeout=90)
    assert task["status"]["phase"] == "Succeeded", task["status"]
    assert "result_ref" in task["status"]["result"]["result"]  # > 4 KiB: kept as an artifact
    (job,) = [j for j in await jobs_of(kube, namespace) if j["metadata"]["name"] == "largest"]
    delivered = job["spec"]["template"]["metadata"]["annotations"][keys.ANNOTATION_TASK_SPEC]
    assert json.loads(delivered)["input"] == largest
    assert redis_client.hget("devskyy:tasks:largest", "status") == "completed"
    refused = await wait_phase(kube, namespace, "one-more", "Failed", timeout=20)
    assert refused["status"]["reason"] == "InvalidSpec"
    assert [j["metadata"]["name"] for j in await jobs_of(kube, namespace)] == ["largest"]


@pytest.mark.usefixtures("operator")
async def test_schedule_horizon_and_the_status_of_a_delayed_task(
    kube: KubeClient, cluster: LocalCluster, namespace: str, redis_client: redis.Redis
) -> None:
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    bodies = {
        "year-9999": campaign("year-9999", schedule_at="9999-12-31T23:59:59Z"),
        "in-two-days": campaign("in-two-days", schedule_at=later.isoformat()),
        "in-the-past": campaign("in-the-past", schedule_at="2020-01-01T00:00:00Z"),
    }
    for body in bodies.values():
        code, stderr = apply(cluster, namespace, body)
        assert code == 0, stderr
    far = await wait_phase(kube, namespace, "year-9999", "Failed", timeout=20)
    assert far["status"]["reason"] == "InvalidSpec"
    assert far["status"]["message"].startswith("spec.input.schedule_at: more than 90 days ahead")
    assert redis_client.hget("devskyy:tasks:year-9999", "status") == "failed"
    assert dlq(redis_client, "year-9999")["reason"] == "InvalidSpec"
    waiting = await wait_phase(kube, namespace, "in-two-days", "Queued", timeout=20)
    status = waiting["status"]
    stamp = later.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status["notBefore"] == stamp
    (admitted,) = [c for c in status["conditions"] if c["type"] == "Admitted"]
    assert (admitted["status"], admitted["message"]) == ("False", f"scheduled for {stamp}")
    # A past schedule_at means now: admitted at once (it then fails for want of an
    # OpenAI key, which is the task's business).
    past = await wait_phase(kube, namespace, "in-the-past", "Failed", "Succeeded", timeout=60)
    assert past["status"]["admittedAt"]
    assert "notBefore" not in past["status"]
    assert sorted(j["metadata"]["name"] for j in await jobs_of(kube, namespace)) == ["in-the-past"]


async def test_a_maximum_lowered_after_creation_fails_the_task_without_a_job(
    kube: KubeClient,
    cluster: LocalCluster,
    namespace: str,
    redis_url: str,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    body = with_resources(diagnostic("was-fine"), requests={"cpu": "3"}, limits={"cpu": "3"})
    hold = {"DEVSKYY_CONCURRENCY__DIAGNOSTIC": "0"}
    with running_operator(cluster, namespace, redis_url, tmp_path, hold):
        code, stderr = apply(cluster, namespace, body)
        assert code == 0, stderr
        await wait_phase(kube, namespace, "was-fine", "Queued", timeout=20)
    lowered = {
        "DEVSKYY_CONCURRENCY__DIAGNOSTIC": "1",
        "DEVSKYY_RESOURCES__DIAGNOSTIC__CPU_LIMIT": "2",
        "DEVSKYY_RESOURCES__DIAGNOSTIC__CPU_MAX": "2",
    }
    with running_operator(cluster, namespace, redis_url, tmp_path, lowered):
        task = await wait_phase(kube, namespace, "was-fine", "Failed", "Running", timeout=30)
    status = task["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "InvalidSpec")
    assert status["message"] == (
        "spec.resources.requests.cpu: 3 is more than the maximum 2 of type diagnostic; "
        "spec.resources.limits.cpu: 3 is more than the maximum 2 of type diagnostic"
    )
    assert await jobs_of(kube, namespace) == []
    assert redis_client.hget("devskyy:tasks:was-fine", "status") == "failed"
    assert dlq(redis_client, "was-fine")["reason"] == "InvalidSpec"


async def _events(kube: KubeClient, namespace: str, name: str) -> list[dict[str, Any]]:
    events = await kube.list(resource_path("v1", "events", namespace))
    return [e for e in events if e["involvedObject"]["name"] == name]


async def forge(kube: KubeClient, namespace: str, name: str, phase: str) -> None:
    """What an admin or another controller can do through the status subresource."""
    status = {"phase": phase, "reason": "SetByHand", "completedAt": "2026-01-01T00:00:00Z"}
    await kube.patch(tasks_path(namespace, name) + "/status", {"status": status})


@pytest.mark.usefixtures("operator")
async def test_a_forged_terminal_status_is_reconciled_from_the_job(
    kube: KubeClient, namespace: str, redis_client: redis.Redis
) -> None:
    await create_task(kube, namespace, diagnostic("forged", sleep_seconds=4, exit_code=3))
    await wait_phase(kube, namespace, "forged", "Running")
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    await create_task(kube, namespace, campaign("forged-queued", schedule_at=later))
    await wait_phase(kube, namespace, "forged-queued", "Queued")
    await forge(kube, namespace, "forged", "Succeeded")
    await forge(kube, namespace, "forged-queued", "Failed")

    async def overridden(name: str) -> dict[str, Any] | None:
        found = [
            e for e in await _events(kube, namespace, name) if e["reason"] == "StatusOverridden"
        ]
        return found[0] if found else None

    event = await eventually(lambda: overridden("forged"), timeout=20, what="the event")
    assert event["type"] == "Warning"
    assert "phase Succeeded was not written by the operator" in event["message"]
    # The Job decides: the pod exits 3 with no retries left, a real failure.
    task = await wait_phase(kube, namespace, "forged", "Failed", timeout=60)
    status = task["status"]
    assert status["reason"] == "BackoffLimitExceeded", status
    assert status["completedAt"] != "2026-01-01T00:00:00Z"
    record = redis_client.hgetall("devskyy:tasks:forged")
    assert (record["status"], record["attempts"], record["reason"]) == (
        "failed",
        "1",
        "BackoffLimitExceeded",
    )
    assert dlq(redis_client, "forged")["exit_code"] == 3
    # Never admitted: back to waiting for its schedule, with no Job.
    await eventually(lambda: overridden("forged-queued"), timeout=20, what="the event")
    queued = await wait_phase(kube, namespace, "forged-queued", "Queued", timeout=20)
    assert "completedAt" not in queued["status"]
    assert queued["status"]["notBefore"]
    assert redis_client.hget("devskyy:tasks:forged-queued", "status") == "pending"
    assert [j["metadata"]["name"] for j in await jobs_of(kube, namespace)] == ["forged"]
    assert (await get_task(kube, namespace, "forged"))["status"]["phase"] == "Failed"


async def test_a_forged_status_with_its_job_gone_is_kept_and_recorded(
    kube: KubeClient,
    cluster: LocalCluster,
    namespace: str,
    redis_url: str,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    """Nothing left to reconcile from (the Job was deleted while the operator was
    down): the status stays, and the task record stops saying `processing`."""
    with running_operator(cluster, namespace, redis_url, tmp_path):
        await create_task(kube, namespace, diagnostic("jobless", sleep_seconds=60))
        await wait_phase(kube, namespace, "jobless", "Running")

        async def processing() -> bool:
            return redis_client.hget("devskyy:tasks:jobless", "status") == "processing"

        await eventually(processing, timeout=30, what="the record to say processing")
    await kube.delete(resource_path("batch/v1", "jobs", namespace, "jobless"))

    async def job_gone() -> bool:
        return not [j for j in await jobs_of(kube, namespace) if j["metadata"]["name"] == "jobless"]

    await eventually(job_gone, timeout=30, what="the Job to go")
    await forge(kube, namespace, "jobless", "Failed")
    with running_operator(cluster, namespace, redis_url, tmp_path):

        async def recorded() -> bool:
            return redis_client.hget("devskyy:tasks:jobless", "status") == "failed"

        await eventually(recorded, timeout=30, what="the record to follow the status")

        async def told() -> bool:
            events = await _events(kube, namespace, "jobless")
            return any(e["reason"] == "StatusOverridden" for e in events)

        await eventually(told, timeout=10, what="the StatusOverridden event")
    task = await get_task(kube, namespace, "jobless")
    assert (task["status"]["phase"], task["status"]["reason"]) == ("Failed", "SetByHand")
    assert redis_client.hget("devskyy:tasks:jobless", "reason") == "SetByHand"
