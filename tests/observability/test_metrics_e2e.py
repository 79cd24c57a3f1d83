"""/metrics after a known mix of outcomes on the real control plane.

The operator: 3 diagnostic tasks succeed, one fails permanently (exit 42, not
retried) and one fails after its retries: the seed counters, the duration
histogram, the dead letters and the gauges must say exactly that. The bridge:
a task the CRD refuses and a task whose resource is lost end through the same
final-failure path and count the same way.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient
from devskyy_operator.redisq import Redis, enqueue, get_task
from tests.bridge.support import running_bridge, wait_resource
from tests.observability.exposition import value
from tests.queue.conftest import aredis, diagnostic_spec
from tests.support.operator_process import ComponentProcess, running_operator
from tests.support.tasks import create_task, diagnostic, tasks_path, wait_phase
from tests.support.waiting import eventually

__all__ = ["aredis"]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240), pytest.mark.usefixtures("devskyy_crd")]

SUCCEED = ("m-ok-1", "m-ok-2", "m-ok-3")


async def settled(
    component: ComponentProcess, name: str, want: float, timeout: float = 30, **labels: str
) -> str:
    """The exposition once `name{labels}` reached `want` (updates trail status patches)."""

    async def probe() -> str | None:
        text = await asyncio.to_thread(component.metrics)
        return text if value(text, name, **labels) == want else None

    return await eventually(probe, timeout=timeout, interval=0.5, what=f"{name}{labels} == {want}")


async def test_counters_histogram_and_gauges_after_known_outcomes(
    kube: KubeClient, namespace: str, redis_url: str, cluster: LocalCluster, tmp_path: Path
) -> None:
    with running_operator(cluster, namespace, redis_url, tmp_path) as operator:
        for name in SUCCEED:
            await create_task(kube, namespace, diagnostic(name, sleep_seconds=0.2))
        await create_task(kube, namespace, diagnostic("m-perm", exit_code=42, retries=3))
        await create_task(kube, namespace, diagnostic("m-flaky", exit_code=3, retries=1))
        for name in (*SUCCEED, "m-perm", "m-flaky"):
            await wait_phase(kube, namespace, name, "Succeeded", "Failed", timeout=180)
        await settled(operator, "worker_tasks_total", 2, type="diagnostic", status="failed")
        text = await settled(operator, "devskyy_dlq_size", 2)  # refreshed after each resync

    def metric(name: str, **labels: str) -> float:
        return value(text, name, **labels)

    assert metric("worker_tasks_total", type="diagnostic", status="success") == 3
    assert metric("worker_tasks_total", type="diagnostic", status="failed") == 2
    assert metric("worker_tasks_total", type="diagnostic") == 5
    assert metric("worker_errors_total", type="diagnostic") == 2
    assert metric("worker_task_duration_seconds_count", type="diagnostic") == 5
    assert metric("worker_task_duration_seconds_bucket", type="diagnostic", le="+Inf") == 5
    assert metric("worker_task_duration_seconds_sum", type="diagnostic") > 0
    assert metric("devskyy_dead_letters_total") == 2
    assert metric("devskyy_dead_letters_total", reason="PermanentFailure") == 1
    assert metric("devskyy_dead_letters_total", reason="BackoffLimitExceeded") == 1
    assert metric("devskyy_admission_wait_seconds_count", type="diagnostic") == 5
    assert metric("devskyy_running_tasks", type="diagnostic") == 0
    assert metric("devskyy_waiting_tasks", type="diagnostic") == 0
    assert metric("devskyy_ready_backlog", type="diagnostic") == 0
    cpu = metric("devskyy_task_resource_seconds_total", user="alice", resource="cpu")
    memory = metric("devskyy_task_resource_seconds_total", user="alice", resource="memory")
    assert cpu > 0
    assert memory > cpu


async def test_tasks_refused_by_the_crd_or_lost_count_as_final_failures(
    kube: KubeClient, namespace: str, redis_url: str, cluster: LocalCluster, tmp_path: Path,
    aredis: Redis,
) -> None:  # fmt: skip
    """No operator runs here: the bridge itself ends both tasks."""
    refused = (await enqueue(aredis, diagnostic_spec())).task_id
    spec = json.loads(await aredis.hget(keys.task_key(refused), "spec") or "{}")
    # A record from an older API whose spec the CRD no longer accepts.
    await aredis.hset(keys.task_key(refused), "spec", json.dumps({**spec, "priority": 5000}))
    lost = (await enqueue(aredis, diagnostic_spec())).task_id
    quick_sweeps = {"DEVSKYY_SWEEP_INTERVAL_SECONDS": "0.5", "DEVSKYY_SWEEP_GRACE_SECONDS": "0.5"}
    with running_bridge(cluster.kubeconfig, namespace, redis_url, tmp_path, quick_sweeps) as bridge:
        await wait_resource(kube, namespace, lost)
        await kube.delete(tasks_path(namespace, lost))  # behind everyone's back
        text = await settled(
            bridge, "worker_tasks_total", 2, timeout=60, type="diagnostic", status="failed"
        )

    def metric(name: str, **labels: str) -> float:
        return value(text, name, **labels)

    assert metric("worker_tasks_total", type="diagnostic") == 2
    assert metric("worker_errors_total", type="diagnostic") == 2
    assert metric("devskyy_dead_letters_total", type="diagnostic") == 2
    assert metric("devskyy_dead_letters_total", reason="InvalidSpec") == 1
    assert metric("devskyy_dead_letters_total", reason="Lost") == 1
    for task_id, reason in ((refused, "InvalidSpec"), (lost, "Lost")):
        record = await get_task(aredis, task_id)
        assert record is not None
        assert (record.status, record.raw["reason"]) == ("failed", reason)
        dead = json.loads(await aredis.get(keys.dlq_key(task_id)) or "{}")
        assert dead["reason"] == reason
