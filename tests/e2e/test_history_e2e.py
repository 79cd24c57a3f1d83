"""The history through the real operator on the real cluster: every transition the
operator makes reaches PostgreSQL via the writer, with the Job's facts (attempts,
exit code, node, resources, run time)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.history.writer import ensure_group
from devskyy_operator.kube.client import KubeClient
from devskyy_operator.redisq import connect
from devskyy_operator.redisq.scripts import disconnect
from tests.history.conftest import kinds_by_task, rows, writer_process
from tests.support.operator_process import running_operator
from tests.support.tasks import create_task, diagnostic, wait_phase
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300), pytest.mark.usefixtures("devskyy_crd")]


async def test_operator_transitions_reach_the_history(
    cluster: LocalCluster,
    kube: KubeClient,
    namespace: str,
    redis_url: str,
    database_url: str,
    tmp_path: Path,
) -> None:
    redis = connect(redis_url)
    await ensure_group(redis)  # what `devskyy-history migrate` does before the first task
    await disconnect(redis)
    expected = {
        "hist-ok": ["queued", "admitted", "running", "succeeded"],
        "hist-flaky": ["queued", "admitted", "running", "attempt_failed", "running",
                       "dead_lettered", "failed"],
    }  # fmt: skip
    with (
        running_operator(cluster, namespace, redis_url, tmp_path),
        writer_process(redis_url, database_url, tmp_path / "writer.log"),
    ):
        await create_task(kube, namespace, diagnostic("hist-ok", sleep_seconds=0.5))
        await create_task(kube, namespace, diagnostic("hist-flaky", exit_code=3, retries=1))
        for name in expected:
            await wait_phase(kube, namespace, name, "Succeeded", "Failed", timeout=180)

        async def ended() -> dict[str, list[str]] | None:
            found = await kinds_by_task(database_url)
            done = found.get("hist-ok", [])[-1:] == ["succeeded"]
            return found if done and found.get("hist-flaky", [])[-1:] == ["failed"] else None

        found = await eventually(ended, timeout=60, interval=0.5, what="both tasks' endings")
    assert found == expected
    tasks = {r["task_id"]: r for r in await rows(database_url, "SELECT * FROM tasks")}
    ok, flaky = tasks["hist-ok"], tasks["hist-flaky"]
    assert ok["status"] == "completed"
    assert ok["source"] == "kubectl"
    assert ok["worker_host"] == cluster.node_name
    assert ok["resources"]["requests"]["cpu"]
    assert ok["run_seconds"] is not None
    assert ok["result"]["status"] == "success"
    assert (flaky["status"], flaky["attempts"], flaky["exit_code"]) == ("failed", 2, 3)
    assert flaky["reason"] == "BackoffLimitExceeded"
    assert flaky["dead_lettered_at"] is not None
