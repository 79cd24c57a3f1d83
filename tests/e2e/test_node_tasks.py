"""What the real node enforces on a task, seen from the task itself.

Each test runs the diagnostic task as the operator runs every task (CR ->
Job -> pod from our image on the kubelet) and compares what the pod saw with
what the CR asked for: the cgroup limits of `spec.resources` or the type's
defaults, a read-only root and a non-root uid, its log (kept, masked, in the
DLQ record), and a node drain that re-runs it without counting a retry. The
drain needs a private cluster: draining the suite's node would stop every
other test's pods.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis

from devskyy_agents.diagnostic import WRITE_PROBE_PATH
from devskyy_agents.logs import MASK
from devskyy_devcluster.images import ImageSet
from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.job.builder import TASK_CONTAINER
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.quantity import parse_quantity
from devskyy_operator.settings import Settings
from tests.support.cluster import job_pods, kubectl
from tests.support.namespaces import restricted_namespace
from tests.support.operator_process import CRD_FILE, OperatorProcess, running_operator
from tests.support.providers_env import TASK_SECRET, operator_task_env, put_secret
from tests.support.redis_server import RedisServer
from tests.support.storage import bound_claims
from tests.support.tasks import create_task, diagnostic, get_task, wait_phase
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

SETTINGS = Settings()
# A distinctive fake secret of the task's Secret: any unmasked occurrence is a leak.
FAKE_KEY_NAME = "DIAGNOSTIC_SERVICE_KEY"
FAKE_KEY = f"fake-{secrets.token_hex(16)}"
BEARER = f"eyJ{secrets.token_hex(12)}.payload.sig"


@dataclass
class World:
    namespace: str
    redis: redis.Redis[str]
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
    """One namespace with a task Secret and one operator (its pods get the Secret)."""
    namespace = await restricted_namespace(kube, "nt")
    try:
        await put_secret(kube, namespace, {FAKE_KEY_NAME: FAKE_KEY})
        extra = operator_task_env(secret=TASK_SECRET, config_map=None)
        log_dir = tmp_path_factory.mktemp("operator")
        with running_operator(cluster, namespace, redis_server.url, log_dir, extra) as operator:
            yield World(namespace, redis_module, operator)
    finally:
        await kube.delete(resource_path("v1", "namespaces", name=namespace))


async def run_to_end(
    kube: KubeClient, namespace: str, body: dict[str, Any], timeout: float = 100.0
) -> dict[str, Any]:
    await create_task(kube, namespace, body)
    name = body["metadata"]["name"]
    return await wait_phase(kube, namespace, name, "Succeeded", "Failed", timeout=timeout)


def runtime_of(task: dict[str, Any]) -> dict[str, Any]:
    status = task["status"]
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    runtime: dict[str, Any] = status["result"]["runtime"]
    return runtime


async def dlq_record(client: redis.Redis[str], task_id: str) -> dict[str, Any]:
    async def written() -> dict[str, Any] | None:
        raw = client.get(f"devskyy:dlq:{task_id}")
        return dict(json.loads(str(raw))) if raw is not None else None

    return await eventually(written, timeout=30, what=f"DLQ record of {task_id}")


def millicores(quantity: str) -> int:
    value = parse_quantity(quantity)
    assert value is not None
    return round(float(value) * 1000)


def byte_count(quantity: str) -> int:
    value = parse_quantity(quantity)
    assert value is not None
    return int(value)


# ----------------------------------------------------------------- 1. limits


async def test_the_limits_a_task_runs_under_are_those_its_cr_asked_for(
    kube: KubeClient, world: World
) -> None:
    asked = {"requests": {"cpu": "100m", "memory": "96Mi"},
             "limits": {"cpu": "300m", "memory": "200Mi"}}  # fmt: skip
    explicit = diagnostic("limits-explicit", report_runtime=True)
    explicit["spec"]["resources"] = asked
    defaults = diagnostic("limits-default", report_runtime=True)
    await create_task(kube, world.namespace, explicit)
    ran = await asyncio.gather(
        wait_phase(kube, world.namespace, "limits-explicit", "Succeeded", "Failed", timeout=100),
        run_to_end(kube, world.namespace, defaults),
    )
    own, typed = (runtime_of(task) for task in ran)
    assert own["memory_limit_bytes"] == byte_count(asked["limits"]["memory"]) == 200 * 2**20
    assert own["cpu_limit_millicores"] == millicores(asked["limits"]["cpu"]) == 300
    type_defaults = SETTINGS.resources_for("diagnostic")
    assert typed["memory_limit_bytes"] == byte_count(str(type_defaults.memory_limit))
    assert typed["cpu_limit_millicores"] == millicores(str(type_defaults.cpu_limit))
    assert own["memory_limit_bytes"] != typed["memory_limit_bytes"]  # the CR made a difference


# ----------------------------------------------------------------- 2. root fs and uid


async def test_a_write_outside_the_volumes_fails_with_read_only_file_system_as_non_root(
    kube: KubeClient, world: World
) -> None:
    uid_task = await run_to_end(kube, world.namespace, diagnostic("whoami", report_runtime=True))
    runtime = runtime_of(uid_task)
    job = await kube.get(resource_path("batch/v1", "jobs", world.namespace, "whoami"))
    pod_security = job["spec"]["template"]["spec"]["securityContext"]
    assert runtime["uid"] == pod_security["runAsUser"] == SETTINGS.task_run_as_user != 0
    assert runtime["gid"] == pod_security["runAsGroup"] == SETTINGS.task_run_as_user

    failed = await run_to_end(kube, world.namespace,
                              diagnostic("write-root", write_outside_volumes=True))  # fmt: skip
    status = failed["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "PermanentFailure"), status
    assert f"writing {WRITE_PROBE_PATH} outside the task's volumes failed" in status["message"]
    assert "[Errno 30] Read-only file system" in status["message"]
    record = await dlq_record(world.redis, "write-root")
    assert "Read-only file system" in record["error"]
    assert (record["exit_code"], record["attempts"]) == (42, 1)


# ----------------------------------------------------------------- 3. logs


async def test_kubectl_logs_works_and_the_dlq_keeps_the_masked_log_tail(
    cluster: LocalCluster, kube: KubeClient, world: World
) -> None:
    name = "log-tail"
    body = diagnostic(
        name, exit_code=3,
        print_lines=["first line of the attempt", f"calling with Authorization: Bearer {BEARER}"],
        echo_env=[FAKE_KEY_NAME],
    )  # fmt: skip
    failed = await run_to_end(kube, world.namespace, body)
    assert failed["status"]["phase"] == "Failed"
    (pod,) = await job_pods(kube, world.namespace, name)
    pod_name = pod["metadata"]["name"]
    # The pod's own log, through the apiserver and the kubelet: what the task printed.
    raw = kubectl(cluster, "logs", "-n", world.namespace, pod_name, "-c", TASK_CONTAINER).stdout
    assert "first line of the attempt" in raw
    assert f"{FAKE_KEY_NAME}={FAKE_KEY}" in raw  # the task printed it; the DLQ must not keep it

    record = await dlq_record(world.redis, name)
    assert record["log_pod"] == pod_name
    tail = record["log_tail"].splitlines()
    assert "first line of the attempt" in tail
    assert f"calling with Authorization: {MASK}" in tail, tail
    assert f"{FAKE_KEY_NAME}={MASK}" in tail
    assert any("Task log-tail failed" in line for line in tail), tail  # the logger's lines too
    assert FAKE_KEY not in record["log_tail"]
    assert BEARER not in record["log_tail"]
    assert len(tail) <= SETTINGS.dlq_log_tail_lines
    assert len(record["log_tail"].encode()) <= SETTINGS.dlq_log_tail_bytes
    assert FAKE_KEY not in world.operator.log()  # the operator never logs the values it masks


# ----------------------------------------------------------------- 4. node drain


@pytest.mark.timeout(240)
async def test_a_node_drain_reruns_the_task_without_counting_a_retry(
    images: ImageSet, own_redis: RedisServer, tmp_path: Path
) -> None:
    """Private cluster: drain its only node while the task sleeps, then uncordon."""
    private = LocalCluster(tmp_path / "private", images=images)
    await asyncio.to_thread(private.start)
    try:
        kubectl(private, "apply", "--server-side", "-f", str(CRD_FILE))
        kubectl(private, "wait", "--for=condition=Established",
                "crd/devskyytasks.devskyy.io", "--timeout=60s")  # fmt: skip
        async with KubeClient.from_env(str(private.kubeconfig)) as kube, AsyncExitStack() as stack:
            namespace = await restricted_namespace(kube, "drain")
            claims = await stack.enter_async_context(
                bound_claims(kube, namespace, tmp_path / "volumes", {"devskyy-artifacts": "art"})
            )
            assert claims
            extra = operator_task_env(secret=None, config_map=None,
                                      claims={"artifacts": "devskyy-artifacts"})  # fmt: skip
            stack.enter_context(running_operator(private, namespace, own_redis.url,
                                                 tmp_path / "operator", extra))  # fmt: skip
            client = stack.enter_context(own_redis.client())
            await drain_and_rerun(private, kube, namespace, client)
    finally:
        await asyncio.to_thread(private.stop)


async def running_pod(kube: KubeClient, namespace: str, job: str) -> dict[str, Any]:
    async def running() -> dict[str, Any] | None:
        for pod in await job_pods(kube, namespace, job):
            if (pod.get("status") or {}).get("phase") == "Running":
                return pod
        return None

    return await eventually(running, timeout=90, interval=0.2, what=f"a running pod of {job}")


async def drain_and_rerun(
    cluster: LocalCluster, kube: KubeClient, namespace: str, client: redis.Redis[str]
) -> None:
    name = "drained"
    # retries 0: an eviction that counted as a failure would fail the task outright.
    body = diagnostic(name, sleep_seconds=12, report_runtime=True, retries=0)
    await create_task(kube, namespace, body)
    first = await running_pod(kube, namespace, name)
    first_name = first["metadata"]["name"]
    node = cluster.node_name

    drained_at = time.monotonic()
    drain = await asyncio.to_thread(
        kubectl, cluster, "drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
        "--timeout=60s",
    )  # fmt: skip
    drain_seconds = time.monotonic() - drained_at
    assert f"pod/{first_name} evicted" in drain.stdout + drain.stderr, drain

    # The replacement waits, Pending, for a schedulable node; the task is still Running.
    async def replacement() -> dict[str, Any] | None:
        pods = [p for p in await job_pods(kube, namespace, name)
                if p["metadata"]["name"] != first_name]  # fmt: skip
        return pods[0] if pods else None

    try:
        second = await eventually(replacement, timeout=90, interval=0.2, what="a replacement pod")
    except AssertionError as exc:
        job = await kube.get(resource_path("batch/v1", "jobs", namespace, name))
        task = await get_task(kube, namespace, name)
        raise AssertionError(f"{exc}\njob: {job['status']}\ntask: {task['status']}") from None
    assert (second.get("status") or {}).get("phase") == "Pending"
    assert (await get_task(kube, namespace, name))["status"]["phase"] == "Running"
    job = await kube.get(resource_path("batch/v1", "jobs", namespace, name))
    assert int(job["status"].get("failed") or 0) == 0  # the Ignore rule: not a failure

    kubectl(cluster, "uncordon", node)
    await running_pod(kube, namespace, name)
    rerun_seconds = time.monotonic() - drained_at
    task = await wait_phase(kube, namespace, name, "Succeeded", "Failed", timeout=90)
    runtime = runtime_of(task)
    assert runtime["attempt"] == 2  # the ledger: two pods ran the task
    status = task["status"]
    assert status["attempts"] == 1  # the Job counts one attempt: the eviction was no failure
    job = await kube.get(resource_path("batch/v1", "jobs", namespace, name))
    assert int(job["status"].get("failed") or 0) == 0
    assert int(job["status"].get("succeeded") or 0) == 1
    record: dict[str, str] = client.hgetall(f"devskyy:tasks:{name}")
    assert record["status"] == "completed"
    assert record["attempts"] == "1"
    assert record.get("failed_attempts", "0") == "0"
    (last,) = await job_pods(kube, namespace, name)
    assert last["metadata"]["name"] == second["metadata"]["name"] != first_name
    print(f"drain {drain_seconds:.1f} s; drain start to the re-run Running {rerun_seconds:.1f} s")
