"""A batch through the whole data path: POST /v1/tasks:batch -> Redis -> bridge ->
DevSkyyTask -> the real operator -> Job -> every task Succeeded with its own
result; a refused batch leaves no task anywhere (no record, no CR)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.redisq import Redis, get_task
from tests.api.conftest import app_client, auth, settings_for
from tests.bridge.support import running_bridge, wait_resource
from tests.support.operator_process import running_operator
from tests.support.tasks import wait_phase

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180), pytest.mark.usefixtures("devskyy_crd")]


def item(n: int, **options: str) -> dict[str, object]:
    spec = {"type": "diagnostic", "input": {"user_id": "alice", "result": {"n": n}}}
    return {"spec": spec, **options}


async def test_a_batch_runs_to_completion_and_a_refused_one_leaves_nothing(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    aredis: Redis, redis_client: redis.Redis,
) -> None:  # fmt: skip
    async with app_client(settings_for(redis_url)) as api:
        accepted = await api.post(
            "/v1/tasks:batch",
            json={"tasks": [item(0), item(1, task_id="batch-e2e-1"), item(2)]},
            headers=auth("alice"),
        )
        assert accepted.status_code == 202, accepted.text
        ids = [t["id"] for t in accepted.json()["tasks"]]
        refused = await api.post(
            "/v1/tasks:batch",
            json={"tasks": [item(3, task_id="never-queued"), item(4, task_id="batch-e2e-1")]},
            headers=auth("alice"),
        )
        assert refused.status_code == 409
        assert [e["field"] for e in refused.json()["errors"]] == ["tasks.1.task_id"]
    assert redis_client.zcard(keys.queue_key("diagnostic")) == 3
    with (
        running_operator(cluster, namespace, redis_url, tmp_path),
        running_bridge(cluster.kubeconfig, namespace, redis_url, tmp_path),
    ):
        for n, task_id in enumerate(ids):
            await wait_resource(kube, namespace, task_id)
            task = await wait_phase(kube, namespace, task_id, "Succeeded", "Failed")
            assert task["status"]["phase"] == "Succeeded", task["status"]
            record = await get_task(aredis, task_id)
            assert record is not None
            assert record.status == "completed"
            assert record.result["result"] == {"n": n}
        listed = await kube.list(resource_path(keys.API_VERSION, keys.PLURAL, namespace))
    assert sorted(t["metadata"]["name"] for t in listed) == sorted(ids)
    assert await get_task(aredis, "never-queued") is None
