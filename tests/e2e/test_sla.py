"""SLA objectives on the real cluster: a task that runs past its completion objective is
flagged SLABreached while it still runs (the deadline timer, not the end) and counts
once in devskyy_sla_breaches_total; its queue wait, within bound, counts as met."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.crd.conditions import get_condition
from devskyy_operator.kube.client import KubeClient
from tests.observability.exposition import value
from tests.support.operator_process import OperatorProcess, running_operator
from tests.support.tasks import create_task, diagnostic, get_task, wait_phase
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180), pytest.mark.usefixtures("devskyy_crd")]

# A small objective for the test: 4 s from enqueue to the end, at most 4 s of queue wait.
OBJECTIVE = {
    "DEVSKYY_SLA__DIAGNOSTIC__COMPLETION_SECONDS": "4",
    "DEVSKYY_SLA__DIAGNOSTIC__QUEUE_WAIT_SECONDS": "4",
    "DEVSKYY_SLA__DIAGNOSTIC__TARGET": "0.9",
}


@pytest.fixture
def operator(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    with running_operator(cluster, namespace, redis_url, tmp_path, OBJECTIVE) as process:
        yield process


def sla_metric(operator: OperatorProcess, name: str, objective: str) -> float:
    return value(operator.metrics(), name, type="diagnostic", objective=objective)


async def test_a_task_past_its_objective_is_flagged_while_it_runs(
    kube: KubeClient, namespace: str, operator: OperatorProcess
) -> None:
    async def page() -> str | None:
        try:
            return operator.metrics()
        except httpx.TransportError:
            return None  # not listening yet

    text = await eventually(page, timeout=30, interval=0.2, what="the operator's /metrics")
    assert value(text, "devskyy_sla_objective_seconds", type="diagnostic",
                 objective="completion") == 4  # fmt: skip
    assert value(text, "devskyy_sla_objective_target", type="diagnostic",
                 objective="queue_wait") == 0.9  # fmt: skip
    await create_task(kube, namespace, diagnostic("sla-slow", sleep_seconds=25))

    async def flagged() -> dict[str, Any] | None:
        status = (await get_task(kube, namespace, "sla-slow")).get("status") or {}
        return status if "completion" in (status.get("slaBreached") or ()) else None

    status = await eventually(flagged, timeout=60, interval=0.5, what="SLABreached")
    assert status["phase"] == "Running"  # flagged when the bound passed, not at the end
    condition = get_condition(status["conditions"], "SLABreached")
    assert condition is not None, status
    assert (condition["status"], condition["reason"]) == ("True", "CompletionExceeded")
    assert "objective 4s" in condition["message"]
    assert status["slaBreached"] == ["completion"]  # admitted within its queue wait bound
    assert sla_metric(operator, "devskyy_sla_breaches_total", "completion") == 1
    assert sla_metric(operator, "devskyy_sla_tasks_total", "queue_wait") == 1
    assert sla_metric(operator, "devskyy_sla_breaches_total", "queue_wait") == 0

    task = await wait_phase(kube, namespace, "sla-slow", "Succeeded", "Failed", timeout=90)
    assert task["status"]["phase"] == "Succeeded"
    assert task["status"]["slaBreached"] == ["completion"]
    ended = get_condition(task["status"]["conditions"], "SLABreached")
    assert ended == condition  # the end wrote the SLA condition unchanged
    # judged once: the end did not count the completion a second time
    assert sla_metric(operator, "devskyy_sla_tasks_total", "completion") == 1
    assert sla_metric(operator, "devskyy_sla_breaches_total", "completion") == 1


async def test_a_task_held_in_the_queue_is_flagged_while_it_waits(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient
) -> None:
    held = {
        **OBJECTIVE,
        "DEVSKYY_SLA__DIAGNOSTIC__COMPLETION_SECONDS": "120",  # only the wait passes here
        "DEVSKYY_CONCURRENCY__DIAGNOSTIC": "0",  # no slot: it stays Queued
    }
    with running_operator(cluster, namespace, redis_url, tmp_path, held) as operator:
        await create_task(kube, namespace, diagnostic("sla-held"))

        async def flagged() -> dict[str, Any] | None:
            status = (await get_task(kube, namespace, "sla-held")).get("status") or {}
            return status if status.get("slaBreached") == ["queue_wait"] else None

        status = await eventually(flagged, timeout=60, interval=0.5, what="queue wait missed")
        assert status["phase"] == "Queued"
        condition = get_condition(status["conditions"], "SLABreached")
        assert condition is not None, status
        assert condition["reason"] == "QueueWaitExceeded"
        assert condition["message"].endswith("s and counting, objective 4s")
        admitted = get_condition(status["conditions"], "Admitted")
        assert admitted is not None  # the Queued condition is kept beside it
        assert admitted["status"] == "False"
        assert sla_metric(operator, "devskyy_sla_breaches_total", "queue_wait") == 1
        assert sla_metric(operator, "devskyy_sla_tasks_total", "queue_wait") == 1
