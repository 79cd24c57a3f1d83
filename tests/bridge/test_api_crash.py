"""(f) The API killed mid-request: clients retry with their Idempotency-Key.

A request whose answer was lost either queued nothing or queued its task once;
the retry returns that same id. With the bridge running throughout, every
accepted task ends as exactly one CR and no task exists that no client knows.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient
from devskyy_operator.redisq import Redis
from tests.api.live_server import TOKENS, running_api
from tests.bridge.support import all_bridged, assert_each_exactly_once, running_bridge
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90), pytest.mark.usefixtures("devskyy_crd")]

REQUESTS = 150
HEADERS = {"Authorization": f"Bearer {TOKENS['alice']}"}


def body(n: int) -> dict[str, object]:
    return {"type": "diagnostic", "input": {"user_id": "alice", "result": {"n": n}}}


async def post(client: httpx.AsyncClient, url: str, n: int) -> str:
    headers = {**HEADERS, "Idempotency-Key": f"req-{n}"}
    response = await client.post(f"{url}/v1/tasks", json=body(n), headers=headers, timeout=10)
    response.raise_for_status()
    return str(response.json()["id"])


async def test_api_killed_mid_request_then_retried(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    aredis: Redis,
) -> None:  # fmt: skip
    answered: dict[int, str] = {}
    window = {"DEVSKYY_BRIDGE_WINDOW": str(2 * REQUESTS)}  # no operator admits here
    with running_bridge(cluster.kubeconfig, namespace, redis_url, tmp_path, window):
        with running_api(redis_url) as api:
            async with httpx.AsyncClient() as client:

                async def one(n: int) -> None:
                    answered[n] = await post(client, api.url, n)

                flights = [asyncio.ensure_future(one(n)) for n in range(REQUESTS)]
                await eventually(lambda: _at_least(answered, 1), what="first answers")
                api.process.kill()  # mid-flight: some requests are lost, some half-done
                await asyncio.gather(*flights, return_exceptions=True)
        lost = [n for n in range(REQUESTS) if n not in answered]
        assert lost, "the kill came too late to interrupt anything"
        with running_api(redis_url) as api:
            async with httpx.AsyncClient() as client:
                retried = {n: await post(client, api.url, n) for n in range(REQUESTS)}
        for n, task_id in answered.items():
            assert retried[n] == task_id  # a replay, not a second task
        ids = sorted(set(retried.values()))
        assert len(ids) == REQUESTS
        await eventually(lambda: all_bridged(kube, namespace, ids), timeout=30, what="CRs")
        await eventually(lambda: _released(aredis), timeout=10, what="leases released")
    await assert_each_exactly_once(kube, namespace, aredis, ids)
    assert set(await aredis.zrange(keys.user_tasks_key("alice"), 0, -1)) == set(ids)


async def _at_least(answered: dict[int, str], count: int) -> bool:
    return len(answered) >= count


async def _released(redis: Redis) -> bool:
    return await redis.zcard(keys.leases_key("diagnostic")) == 0
