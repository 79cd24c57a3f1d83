"""Regions: two bridges of different regions, two namespaces standing in for the two
regions' clusters. Each task becomes a resource only in its own region's namespace;
a task without a region stays in the seed's queue:<type> for a bridge without one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from devskyy_agents.models import parse_spec
from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.redisq import Redis, cancel, enqueue, get_task
from tests.bridge.support import resources, running_bridge
from tests.support.lifetimes import RECORD_TTL
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120), pytest.mark.usefixtures("devskyy_crd")]


@pytest_asyncio.fixture
async def other_namespace(kube: KubeClient) -> AsyncIterator[str]:
    """The second region's "cluster"."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    await kube.create(resource_path("v1", "namespaces"), body)
    yield name
    await kube.delete(resource_path("v1", "namespaces", name=name))


async def queue(redis: Redis, count: int, region: str | None) -> list[str]:
    spec: dict[str, Any] = {"type": "diagnostic", "input": {"user_id": "alice"}}
    if region is not None:
        spec["region"] = region
    return [(await enqueue(redis, parse_spec(spec))).task_id for _ in range(count)]


async def test_each_task_lands_only_in_its_regions_namespace(
    cluster: LocalCluster, namespace: str, other_namespace: str, redis_url: str,
    tmp_path: Path, kube: KubeClient, aredis: Redis,
) -> None:  # fmt: skip
    west = await queue(aredis, 4, "eu-west")
    east = await queue(aredis, 3, "us-east")
    unregioned = await queue(aredis, 2, None)
    unserved = await queue(aredis, 2, "ap-south")  # no bridge of that region runs
    assert await aredis.zcard(keys.queue_key("diagnostic")) == 2  # the seed's key, unchanged
    assert await aredis.zcard(keys.queue_key("diagnostic", "eu-west")) == 4
    with (
        running_bridge(cluster.kubeconfig, namespace, redis_url, tmp_path / "west",
                       {"DEVSKYY_REGION": "eu-west"}),
        running_bridge(cluster.kubeconfig, other_namespace, redis_url, tmp_path / "east",
                       {"DEVSKYY_REGION": "us-east"}),
    ):  # fmt: skip

        async def both_bridged() -> bool:
            here, there = await resources(kube, namespace), await resources(kube, other_namespace)
            return set(here) >= set(west) and set(there) >= set(east)

        await eventually(both_bridged, timeout=60, what="each region's tasks bridged")
        # A cancel of a task no bridge serves takes it out of its region's queue.
        assert await cancel(aredis, unserved[0], **RECORD_TTL) == "cancelled"
        cancelled = await get_task(aredis, unserved[0])
        assert cancelled is not None
        assert cancelled.cancelled
        here, there = await resources(kube, namespace), await resources(kube, other_namespace)
    assert set(here) == set(west)
    assert set(there) == set(east)
    assert {item["spec"]["region"] for item in here.values()} == {"eu-west"}
    assert {item["spec"]["region"] for item in there.values()} == {"us-east"}
    for region in ("eu-west", "us-east"):
        assert await aredis.zcard(keys.queue_key("diagnostic", region)) == 0
        assert await aredis.zcard(keys.leases_key("diagnostic", region)) == 0
    # Untouched: the tasks without a region wait in queue:diagnostic for a bridge
    # without one, the unserved region's in its own queue.
    assert set(await aredis.zrange(keys.queue_key("diagnostic"), 0, -1)) == set(unregioned)
    assert await aredis.zrange(keys.queue_key("diagnostic", "ap-south"), 0, -1) == unserved[1:]
    for task_id in [*unregioned, unserved[1]]:
        record = await get_task(aredis, task_id)
        assert record is not None
        assert record.status == "pending"
