"""Tiers through the whole data path: API -> Redis -> bridge (tier label) ->
operator admission -> Job. A backlog of free tasks holds only its share of the
type's slots, so an enterprise task submitted after it is admitted in the first
admission round that sees it: before any task of the free backlog, and without
waiting for a running free task to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient
from tests.api.conftest import app_client, auth, settings_for
from tests.bridge.support import running_bridge, wait_resource
from tests.support.cluster import kubectl
from tests.support.operator_process import running_operator
from tests.support.tasks import get_task, wait_phase
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240), pytest.mark.usefixtures("devskyy_crd")]

TIERS = {"free": {"concurrencyShare": 0.5}}
USER_TIERS = {"bob": "enterprise"}  # alice is free (the default tier)
CONCURRENCY = 2  # free may hold ceil(2 * 0.5) = 1 of them
FREE_BACKLOG = 4
FREE_SECONDS = 20  # long enough that the enterprise task's start cannot wait for its end


async def phase_of(kube: KubeClient, namespace: str, name: str) -> str | None:
    phase = ((await get_task(kube, namespace, name)).get("status") or {}).get("phase")
    return str(phase) if phase else None


def diagnostic(user: str, **fields: object) -> dict[str, object]:
    return {"type": "diagnostic", "priority": 1000, "input": {"user_id": user, **fields}}


async def test_an_enterprise_task_overtakes_a_free_backlog_in_one_round(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    redis_client: redis.Redis,
) -> None:  # fmt: skip
    env = {
        "DEVSKYY_CONCURRENCY__DIAGNOSTIC": str(CONCURRENCY),
        "DEVSKYY_TIERS": json.dumps(TIERS),
        "DEVSKYY_USER_TIERS": json.dumps(USER_TIERS),
    }
    settings = settings_for(redis_url, tiers=TIERS, user_tiers=USER_TIERS)
    with (
        running_operator(cluster, namespace, redis_url, tmp_path, env),
        running_bridge(cluster.kubeconfig, namespace, redis_url, tmp_path),
    ):
        async with app_client(settings) as api:
            free_ids = []
            slow = diagnostic("alice", sleep_seconds=FREE_SECONDS)
            for _ in range(FREE_BACKLOG):
                done = await api.post("/v1/tasks", json=slow, headers=auth("alice"))
                assert done.status_code == 202, done.text
                free_ids.append(done.json()["id"])
            for task_id in free_ids:
                await wait_resource(kube, namespace, task_id)

            # One free task runs (whichever CR the operator saw first: the bridge
            # creates them concurrently); the other three wait, held by the free
            # tier's share although a slot of the type is open.
            async def one_runs_three_wait() -> list[str] | None:
                phases = {i: await phase_of(kube, namespace, i) for i in free_ids}
                running = [i for i, phase in phases.items() if phase == "Running"]
                queued = [i for i, phase in phases.items() if phase == "Queued"]
                return running + queued if len(running) == 1 and len(queued) == 3 else None

            order = await eventually(one_runs_three_wait, timeout=90, what="1 free running, 3 held")
            running_id, held_ids = order[0], order[1:]
            first = await get_task(kube, namespace, running_id)
            assert first["metadata"]["labels"][keys.LABEL_TIER] == "free"
            assert first["spec"]["priority"] == 299  # asked 1000: placed in the free band

            done = await api.post("/v1/tasks", json=diagnostic("bob", sleep_seconds=0.2),
                                  headers=auth("bob"))  # fmt: skip
            assert done.status_code == 202, done.text
            enterprise_id = done.json()["id"]
            await wait_resource(kube, namespace, enterprise_id)
            task = await wait_phase(kube, namespace, enterprise_id, "Succeeded", "Failed",
                                    timeout=90)  # fmt: skip
            assert task["status"]["phase"] == "Succeeded", task["status"]
            assert task["metadata"]["labels"][keys.LABEL_TIER] == "enterprise"
            assert task["spec"]["priority"] == 1000  # 600 + 1000, capped at the band's top

        def admitted_at(task_id: str) -> str:
            return redis_client.hget(keys.task_key(task_id), "admitted_at") or ""

        enterprise_admitted = admitted_at(enterprise_id)
        assert enterprise_admitted
        # It did not wait for the running free task to end ...
        running_free = redis_client.hmget(keys.task_key(running_id), "status", "completed_at")
        assert running_free[0] == "processing" or running_free[1] > enterprise_admitted
        # ... and no task of the held free backlog was admitted before it.
        for task_id in held_ids:
            later = admitted_at(task_id)
            assert not later or later > enterprise_admitted, (task_id, later)

        # `kubectl get dst -o wide` names each task's tier.
        async def tiers_listed() -> dict[str, str] | None:
            table = kubectl(cluster, "get", "dst", "-n", namespace, "-o", "wide").stdout
            lines = table.splitlines()
            at = lines[0].split().index("TIER")
            rows = {line.split()[0]: line.split()[at] for line in lines[1:]}
            return rows if enterprise_id in rows else None

        rows = await eventually(tiers_listed, timeout=10, what="the Tier column")
        assert rows[enterprise_id] == "enterprise"
        assert {rows[i] for i in free_ids} == {"free"}
