"""The operator's own lines about a task, in JSON mode, carry the task's identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.kube.client import KubeClient
from tests.support.operator_process import running_operator
from tests.support.tasks import create_task, diagnostic, wait_phase
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180), pytest.mark.usefixtures("devskyy_crd")]


async def test_task_lines_carry_task_id_type_and_user(
    kube: KubeClient, namespace: str, redis_url: str, cluster: LocalCluster, tmp_path: Path
) -> None:
    extra = {"LOG_FORMAT": "json"}
    with running_operator(cluster, namespace, redis_url, tmp_path, extra) as operator:
        await create_task(kube, namespace, diagnostic("logged-1", user="dora"))
        await wait_phase(kube, namespace, "logged-1", "Succeeded", "Failed")

        async def completion_logged() -> str | None:
            # The line is written just after the status patch the test observed.
            log = operator.log()
            return log if "Task logged-1 completed" in log else None

        text = await eventually(completion_logged, timeout=30, what="the completion line")
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    about = [line for line in lines if "logged-1" in line["message"]]
    messages = [line["message"] for line in about]
    assert any(m.startswith("Processing task logged-1") for m in messages), messages
    assert any(m.startswith("Task logged-1 completed") for m in messages), messages
    for line in about:
        assert (line.get("task_id"), line.get("type"), line.get("user_id")) == (
            "logged-1",
            "diagnostic",
            "dora",
        ), line
