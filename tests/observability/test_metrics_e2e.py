"""The operator's /metrics after a known mix of outcomes on the real control plane.

3 diagnostic tasks succeed, one fails permanently (exit 42, not retried) and one
fails after its retries: the seed counters, the duration histogram, the dead
letters and the gauges must say exactly that.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.kube.client import KubeClient
from tests.observability.exposition import value
from tests.support.operator_process import OperatorProcess, running_operator
from tests.support.tasks import create_task, diagnostic, wait_phase
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240), pytest.mark.usefixtures("devskyy_crd")]

SUCCEED = ("m-ok-1", "m-ok-2", "m-ok-3")


async def settled(operator: OperatorProcess, name: str, want: float, **labels: str) -> str:
    """The exposition once `name{labels}` reached `want` (updates trail status patches)."""

    async def probe() -> str | None:
        text = await asyncio.to_thread(operator.metrics)
        return text if value(text, name, **labels) == want else None

    return await eventually(probe, timeout=30, interval=0.5, what=f"{name}{labels} == {want}")


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
