"""Task failures only a real node produces, end to end: the kernel's OOM kill, the
kubelet's image pull and eviction, the scheduler's refusal.

Each test runs the operator as a process against the shared cluster and real
Redis, makes the node fail a diagnostic task for real, and checks that the task
ends with the reason in every place an outcome goes (CR status and condition,
Redis task hash, DLQ record, the dead-letter metric), that the evidence is the
runtime's (the container's `terminated.reason`, the scheduler's and the
kubelet's messages), and that nothing is left running: the operator deletes a
Job it fails early, pods included.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis

from devskyy_devcluster.launcher import LocalCluster
from devskyy_devcluster.node_config import REGISTRY_HOST
from devskyy_operator.crd.conditions import (
    REASON_EPHEMERAL_STORAGE,
    REASON_IMAGE_PULL_FAILED,
    REASON_OOM_KILLED,
    REASON_UNSCHEDULABLE,
    TYPE_FAILED,
    get_condition,
)
from devskyy_operator.kube.client import KubeClient, resource_path
from tests.observability.exposition import value
from tests.support.cluster import job_pods, kubectl
from tests.support.operator_process import OperatorProcess, running_operator
from tests.support.tasks import create_task, task_body, wait_phase
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150), pytest.mark.usefixtures("devskyy_crd")]

PENDING_DEADLINE = 4  # seconds; the default is 300 (README "Failure reasons")
FAST = {"DEVSKYY_PENDING_DEADLINE_SECONDS": str(PENDING_DEADLINE)}


@pytest.fixture
def operator(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    with running_operator(cluster, namespace, redis_url, tmp_path, FAST) as process:
        yield process


def probe(
    name: str, resources: Mapping[str, Any], retries: int = 2, **task_input: Any
) -> dict[str, Any]:
    return task_body(
        name, "diagnostic", {"user_id": "alice", **task_input},
        resources=dict(resources), retries=retries, timeoutSeconds=300,
    )  # fmt: skip


async def fails(
    kube: KubeClient, namespace: str, name: str, timeout: float
) -> tuple[dict[str, Any], float]:
    """The task once Failed, and how long after its creation that was written."""
    started = time.monotonic()
    task = await wait_phase(kube, namespace, name, "Succeeded", "Failed", timeout=timeout)
    return task, time.monotonic() - started


def assert_recorded(
    task: dict[str, Any],
    reason: str,
    redis_client: redis.Redis,
    operator: OperatorProcess,
    in_message: str,
) -> dict[str, Any]:
    """One reason in the CR status and condition, the task hash, the DLQ record and the
    dead-letter metric; the message (kubelet's, scheduler's) in the condition and DLQ."""
    name = task["metadata"]["name"]
    status = task["status"]
    assert (status["phase"], status["reason"]) == ("Failed", reason), status
    failed = get_condition(status["conditions"], TYPE_FAILED)
    assert failed is not None
    assert (failed["status"], failed["reason"]) == ("True", reason)
    assert in_message in failed["message"], failed
    record = redis_client.hgetall(f"devskyy:tasks:{name}")
    assert (record["status"], record["reason"], record["error_type"]) == ("failed", reason, reason)
    raw = redis_client.get(f"devskyy:dlq:{name}")
    assert raw is not None, f"no DLQ record for {name}"
    letter = dict(json.loads(str(raw)))
    assert (letter["reason"], letter["error_type"]) == (reason, reason)
    assert in_message in letter["error"], letter
    metrics = operator.metrics()
    assert value(metrics, "devskyy_dead_letters_total", type="diagnostic", reason=reason) == 1
    return letter


async def assert_job_and_pods_gone(kube: KubeClient, namespace: str, name: str) -> None:
    """Failed early, the Job is deleted and the garbage collector removes its pods."""

    async def gone() -> bool:
        jobs = await kube.list(resource_path("batch/v1", "jobs", namespace))
        return not jobs and not await job_pods(kube, namespace, name)

    await eventually(gone, timeout=60, what=f"the Job {name} and its pods to go")


async def test_memory_over_the_limit_fails_the_task_as_oom_killed_without_a_retry(
    kube: KubeClient, namespace: str, redis_client: redis.Redis, operator: OperatorProcess
) -> None:
    limits = {"limits": {"memory": "192Mi"}, "requests": {"memory": "128Mi"}}
    await create_task(kube, namespace, probe("hog", limits, allocate_mib=512, sleep_seconds=30))

    async def oom_killed_pod() -> dict[str, Any] | None:
        for pod in await job_pods(kube, namespace, "hog"):
            state = pod["status"].get("containerStatuses", [{}])[0].get("state", {})
            if state.get("terminated", {}).get("reason") == "OOMKilled":
                return dict(state["terminated"])
        return None

    # The runtime's evidence (exit 137 alone would be any SIGKILL), seen before the
    # operator deletes the Job.
    terminated = await eventually(oom_killed_pod, timeout=90, interval=0.05, what="an OOM kill")
    assert terminated["exitCode"] == 137
    task, seconds = await fails(kube, namespace, "hog", timeout=60)
    letter = assert_recorded(task, REASON_OOM_KILLED, redis_client, operator, "memory limit 192Mi")
    assert letter["exit_code"] == 137
    # Not retried (retry_oom is off by default): one attempt of the three allowed.
    assert (task["status"]["attempts"], letter["attempts"]) == (1, 1)
    await assert_job_and_pods_gone(kube, namespace, "hog")
    print(f"OOMKilled recorded {seconds:.1f} s after the OOM kill was seen")


async def test_retry_oom_per_type_retries_and_still_reports_oom_killed(
    kube: KubeClient, namespace: str, redis_url: str, redis_client: redis.Redis,
    cluster: LocalCluster, tmp_path: Path,
) -> None:  # fmt: skip
    limits = {"limits": {"memory": "192Mi"}, "requests": {"memory": "128Mi"}}
    extra = {"DEVSKYY_RETRY_OOM__DIAGNOSTIC": "true"}
    with running_operator(cluster, namespace, redis_url, tmp_path, extra) as process:
        await create_task(kube, namespace, probe("hog2", limits, retries=1, allocate_mib=512))
        task, seconds = await fails(kube, namespace, "hog2", timeout=120)
        # The Job controller spent the retry; its BackoffLimitExceeded reads as OOMKilled.
        letter = assert_recorded(task, REASON_OOM_KILLED, redis_client, process, "OOM-killed")
    assert (task["status"]["attempts"], letter["attempts"]) == (2, 2)
    reasons = [
        pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"]
        for pod in await job_pods(kube, namespace, "hog2")
    ]
    assert reasons == ["OOMKilled", "OOMKilled"]
    print(f"two OOM-killed attempts recorded after {seconds:.1f} s")


async def test_a_request_larger_than_the_node_fails_fast_as_unschedulable(
    kube: KubeClient, namespace: str, redis_client: redis.Redis, operator: OperatorProcess
) -> None:
    # Within the CRD's maxima for diagnostic (4 CPUs), beyond the node's 2.
    big = {"requests": {"cpu": "3"}, "limits": {"cpu": "3"}}
    await create_task(kube, namespace, probe("huge", big, sleep_seconds=1))
    task, seconds = await fails(kube, namespace, "huge", timeout=60)
    assert_recorded(task, REASON_UNSCHEDULABLE, redis_client, operator, "Insufficient cpu")
    assert task["status"]["attempts"] == 1
    assert PENDING_DEADLINE <= seconds < 30  # not activeDeadlineSeconds (300 s)
    await assert_job_and_pods_gone(kube, namespace, "huge")
    print(f"Unschedulable recorded {seconds:.1f} s after the task was created")


async def test_an_image_that_cannot_be_pulled_fails_fast_as_image_pull_failed(
    kube: KubeClient, namespace: str, redis_url: str, redis_client: redis.Redis,
    cluster: LocalCluster, tmp_path: Path,
) -> None:  # fmt: skip
    missing = f"{REGISTRY_HOST}/devskyy/no-such-image:0"
    extra = {**FAST, "DEVSKYY_IMAGES__DIAGNOSTIC": missing}
    with running_operator(cluster, namespace, redis_url, tmp_path, extra) as process:
        await create_task(kube, namespace, probe("nopull", {}, sleep_seconds=1))
        task, seconds = await fails(kube, namespace, "nopull", timeout=60)
        letter = assert_recorded(task, REASON_IMAGE_PULL_FAILED, redis_client, process, missing)
    assert "ErrImagePull" in letter["error"] or "ImagePullBackOff" in letter["error"]
    assert "not found" in letter["error"], letter["error"]
    assert PENDING_DEADLINE <= seconds < 30
    await assert_job_and_pods_gone(kube, namespace, "nopull")
    print(f"ImagePullFailed recorded {seconds:.1f} s after the task was created")


async def test_an_ephemeral_storage_overrun_ends_the_task_instead_of_looping(
    kube: KubeClient, namespace: str, redis_client: redis.Redis, operator: OperatorProcess
) -> None:
    small = {"requests": {"ephemeralStorage": "32Mi"}, "limits": {"ephemeralStorage": "64Mi"}}
    await create_task(kube, namespace, probe("filler", small, write_mib=96, sleep_seconds=120))
    task, seconds = await fails(kube, namespace, "filler", timeout=120)
    letter = assert_recorded(
        task, REASON_EPHEMERAL_STORAGE, redis_client, operator, "exceeds the limit"
    )
    assert '"64Mi"' in letter["error"], letter["error"]
    # The Job's Ignore rule for DisruptionTarget would have re-run the pod until
    # activeDeadlineSeconds; the task ended on the first eviction instead.
    assert task["status"]["attempts"] == 1
    await assert_job_and_pods_gone(kube, namespace, "filler")
    print(f"EphemeralStorageExceeded recorded {seconds:.1f} s after the task was created")


def namespaced_pod_lists(cluster: LocalCluster) -> int:
    """The apiserver's count of namespace-scoped pod LISTs (the operator's kind; the
    cluster's informers list cluster-wide, once, then watch)."""
    text = kubectl(cluster, "get", "--raw", "/metrics").stdout
    return int(
        value(text, "apiserver_request_total", verb="LIST", resource="pods", scope="namespace")
    )


async def test_a_healthy_task_costs_no_pod_list(
    kube: KubeClient, namespace: str, redis_url: str, cluster: LocalCluster, tmp_path: Path
) -> None:
    """The operator's pod watch lists the task pods once, when it starts, then
    follows them: a task that runs normally costs no pod LIST, the apiserver says
    (its own request counter). Its node (first ready), exit code and termination
    message (the end) come from the watch's copies; before the watch that was two
    LISTs per task, each O(pods in the namespace) for the apiserver."""
    names = [f"calm-{i}" for i in range(3)]

    async def no_namespace_terminating() -> bool:
        # The namespace controller lists every namespaced kind of a namespace it deletes
        # (earlier tests' namespaces): let it finish so the count is the operator's.
        spaces = await kube.list(resource_path("v1", "namespaces"))
        return all(s.get("status", {}).get("phase") != "Terminating" for s in spaces)

    await eventually(no_namespace_terminating, timeout=60, what="namespace deletions to end")
    start = namespaced_pod_lists(cluster)
    with running_operator(cluster, namespace, redis_url, tmp_path) as process:

        async def synced() -> bool:
            return "pod watch synced" in process.log()

        await eventually(synced, timeout=60, what="the operator's pod watch to list")
        before = namespaced_pod_lists(cluster)
        for name in names:
            task = probe(name, {}, sleep_seconds=2, result={"echo": name})
            await create_task(kube, namespace, task)
        for name in names:
            done = await wait_phase(kube, namespace, name, "Succeeded", "Failed", timeout=90)
            assert done["status"]["phase"] == "Succeeded", done["status"]
            assert done["status"]["workerHost"], done["status"]  # the pod's node
            assert done["status"]["result"]["result"] == {"echo": name}  # its message
        lists = namespaced_pod_lists(cluster) - before
    print(f"{before - start} pod LIST to start the watch, {lists} for {len(names)} healthy tasks")
    assert before - start == 1
    assert lists == 0
