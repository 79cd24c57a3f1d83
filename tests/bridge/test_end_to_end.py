"""Enqueue -> bridge -> DevSkyyTask -> the real operator -> Job -> the task runs.

Also the user cancel of a running task (the bridge deletes the CR) and the one
outcome the bridge writes itself: a spec the CRD rejects.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient
from devskyy_operator.redisq import Redis, cancel, enqueue, get_task
from tests.bridge.support import diagnostic_spec, running_bridge, wait_resource
from tests.support.lifetimes import RECORD_TTL
from tests.support.operator_process import running_operator
from tests.support.tasks import wait_phase
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120), pytest.mark.usefixtures("devskyy_crd")]


async def test_enqueued_task_runs_to_completion_and_a_cancel_stops_another(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    aredis: Redis,
) -> None:  # fmt: skip
    ok = (await enqueue(aredis, diagnostic_spec(result={"n": 7}, sleep_seconds=0.2))).task_id
    slow = (await enqueue(aredis, diagnostic_spec(sleep_seconds=60))).task_id
    with (
        running_operator(cluster, namespace, redis_url, tmp_path),
        running_bridge(cluster.kubeconfig, namespace, redis_url, tmp_path) as bridge,
    ):
        await wait_resource(kube, namespace, ok)
        await wait_resource(kube, namespace, slow)
        task = await wait_phase(kube, namespace, ok, "Succeeded", "Failed")
        assert task["status"]["phase"] == "Succeeded", task["status"]
        assert task["metadata"]["annotations"][keys.ANNOTATION_SOURCE] == "api"
        record = await get_task(aredis, ok)
        assert record is not None
        assert record.status == "completed"
        assert record.result["result"] == {"n": 7}
        assert record.raw["bridged_at"]

        await wait_phase(kube, namespace, slow, "Running")
        assert await cancel(aredis, slow, **RECORD_TTL) == "requested"

        async def cancelled() -> bool:
            found = await get_task(aredis, slow)
            return found is not None and found.status == "failed" and found.cancelled

        await eventually(cancelled, timeout=30, what="cancel recorded")
        assert not await aredis.sismember(keys.CANCEL_REQUESTS, slow)
        metrics = bridge.metrics()
    assert 'devskyy_bridge_created_total{type="diagnostic"} 2.0' in metrics
    assert 'worker_queue_size{type="diagnostic"} 0.0' in metrics
    assert 'devskyy_bridge_lag_seconds{type="diagnostic"} 0.0' in metrics


async def test_spec_rejected_by_the_crd_is_failed_and_dead_lettered(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    aredis: Redis,
) -> None:  # fmt: skip
    good = (await enqueue(aredis, diagnostic_spec())).task_id
    bad = (await enqueue(aredis, diagnostic_spec())).task_id
    # A record from an older API whose spec the CRD no longer accepts.
    spec = json.loads(await aredis.hget(keys.task_key(bad), "spec") or "{}")
    await aredis.hset(keys.task_key(bad), "spec", json.dumps({**spec, "priority": 5000}))
    with running_bridge(cluster.kubeconfig, namespace, redis_url, tmp_path):

        async def failed() -> bool:
            found = await get_task(aredis, bad)
            return found is not None and found.status == "failed"

        await eventually(failed, timeout=30, what="invalid task failed")
        await wait_resource(kube, namespace, good)
    record = await get_task(aredis, bad)
    assert record is not None
    # The same reason and error type as a spec the operator's models refuse.
    assert record.raw["error_type"] == "InvalidTaskInput"
    assert record.raw["reason"] == "InvalidSpec"
    dead = json.loads(await aredis.get(keys.dlq_key(bad)) or "{}")
    assert (dead["reason"], dead["error_type"]) == ("InvalidSpec", "InvalidTaskInput")
    assert dead["task_id"] == bad
    assert await aredis.zscore(keys.DLQ_INDEX, bad) is not None
    assert await aredis.zcard(keys.leases_key("diagnostic")) == 0
