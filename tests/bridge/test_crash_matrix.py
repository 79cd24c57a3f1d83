"""The crash matrix: whatever stops the bridge, each task ends as exactly one CR.

Two ways to crash after the claim and before the create:
- the real process: a proxy holds its POSTs, the claims are visible in Redis,
  then SIGKILL. This is the crash as it happens, including whatever the process
  had in memory.
- the exact persisted state, made with the library (claim, never create, drop
  the client). Deterministic: it pins down what a successor bridge sees,
  independent of timing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.bridge.manifest import build_task_resource
from devskyy_operator.kube.client import KubeClient
from devskyy_operator.redisq import Redis, claim, connect
from devskyy_operator.redisq.claim import leased_ids
from devskyy_operator.redisq.scripts import disconnect
from tests.bridge.proxy import TcpProxy, kubeconfig_via
from tests.bridge.support import (
    admit_all,
    all_bridged,
    assert_each_exactly_once,
    enqueue_many,
    resources,
    running_bridge,
)
from tests.support.redis_server import RedisServer
from tests.support.tasks import tasks_path
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90), pytest.mark.usefixtures("devskyy_crd")]

SHORT_LEASE = {"DEVSKYY_LEASE_SECONDS": "2"}
BIG_WINDOW = {"DEVSKYY_BRIDGE_WINDOW": "500"}


async def proxy_to(cluster: LocalCluster) -> TcpProxy:
    return await TcpProxy(cluster.apiserver_port).start()


async def converge(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    aredis: Redis, ids: list[str],
) -> None:  # fmt: skip
    """A fresh bridge straight to the API server finishes the job."""
    with running_bridge(cluster.kubeconfig, namespace, redis_url, tmp_path, BIG_WINDOW):
        await eventually(lambda: all_bridged(kube, namespace, ids), timeout=30, what="all CRs")
        await eventually(lambda: _drained(aredis), timeout=15, what="queue and leases empty")
    await assert_each_exactly_once(kube, namespace, aredis, ids)


async def _drained(redis: Redis) -> bool:
    """Nothing queued and nothing leased at one instant (one round trip): a lease
    that expired goes back to the queue before it is claimed and released again."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zcard(keys.queue_key("diagnostic"))
        pipe.zcard(keys.leases_key("diagnostic"))
        queued, leased = await pipe.execute()
    return bool(queued == 0 and leased == 0)


async def test_a_killed_after_claim_before_create_real_process(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    aredis: Redis,
) -> None:  # fmt: skip
    proxy = await proxy_to(cluster)
    try:
        config = kubeconfig_via(cluster.kubeconfig, proxy.port, tmp_path)
        extra = {**SHORT_LEASE, **BIG_WINDOW}
        with running_bridge(config, namespace, redis_url, tmp_path, extra) as bridge:
            await eventually(lambda: asyncio.to_thread(bridge.ready), what="bridge ready")
            proxy.set_mode("hold")
            ids = await enqueue_many(aredis, 30)
            await eventually(lambda: leased_ids(aredis, "diagnostic"), what="claims")
            assert await resources(kube, namespace) == {}
            assert set(await leased_ids(aredis, "diagnostic")) <= set(ids)
            bridge.kill()
    finally:
        await proxy.close()
    await converge(cluster, namespace, redis_url, tmp_path, kube, aredis, ids)


async def test_a_killed_after_claim_before_create_persisted_state(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    aredis: Redis,
) -> None:  # fmt: skip
    ids = await enqueue_many(aredis, 20)
    crashed = connect(redis_url)
    claimed = await claim(crashed, "diagnostic", 12, lease_seconds=1.0)
    await disconnect(crashed)  # the bridge dies holding 12 leases and no CR
    assert len(claimed) == 12
    await converge(cluster, namespace, redis_url, tmp_path, kube, aredis, ids)
    assert int(await aredis.hget(keys.task_key(claimed[0].task_id), "reclaims") or 0) >= 1


async def test_b_killed_after_create_before_release_real_process(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    aredis: Redis,
) -> None:  # fmt: skip
    proxy = await proxy_to(cluster)
    try:
        config = kubeconfig_via(cluster.kubeconfig, proxy.port, tmp_path)
        extra = {**SHORT_LEASE, **BIG_WINDOW}
        with running_bridge(config, namespace, redis_url, tmp_path, extra) as bridge:
            await eventually(lambda: asyncio.to_thread(bridge.ready), what="bridge ready")
            proxy.set_mode("swallow")  # the creates land; their 201s never arrive
            ids = await enqueue_many(aredis, 30)
            made = await eventually(lambda: resources(kube, namespace), what="CRs created")
            # Created, yet still leased: no 201 came back, so nothing was released.
            assert set(made) <= set(await leased_ids(aredis, "diagnostic"))
            bridge.kill()
    finally:
        await proxy.close()
    await converge(cluster, namespace, redis_url, tmp_path, kube, aredis, ids)


async def test_b_killed_after_create_before_release_persisted_state(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    aredis: Redis,
) -> None:  # fmt: skip
    ids = await enqueue_many(aredis, 10)
    claimed = await claim(aredis, "diagnostic", 10, lease_seconds=1.0)
    for task in claimed:  # exactly what the bridge sends, then it dies before release
        await kube.create(tasks_path(namespace), build_task_resource(task))
    uids = {n: r["metadata"]["uid"] for n, r in (await resources(kube, namespace)).items()}
    await converge(cluster, namespace, redis_url, tmp_path, kube, aredis, ids)
    after = {n: r["metadata"]["uid"] for n, r in (await resources(kube, namespace)).items()}
    assert after == uids  # adopted (409, same task), never recreated


async def test_c_two_bridges_on_one_queue(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    aredis: Redis,
) -> None:  # fmt: skip
    ids = await enqueue_many(aredis, 200)
    extra = {"DEVSKYY_BRIDGE_WINDOW": "40"}
    with (
        running_bridge(cluster.kubeconfig, namespace, redis_url, tmp_path, extra) as one,
        running_bridge(cluster.kubeconfig, namespace, redis_url, tmp_path, extra) as two,
    ):
        # Admission is simulated: no operator runs, so the window is lifted step by step.
        await eventually(lambda: admit_all(kube, namespace, ids), timeout=60, what="200 CRs")
        await eventually(lambda: _drained(aredis), timeout=15, what="queue and leases empty")
        created = one.created_total() + two.created_total()
        both_worked = one.created_total() > 0 and two.created_total() > 0
    await assert_each_exactly_once(kube, namespace, aredis, ids)
    assert created == 200  # no create counted twice: every 201 was a distinct task
    assert both_worked


async def test_d_apiserver_unavailable_for_a_while(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    aredis: Redis,
) -> None:  # fmt: skip
    closed = kubeconfig_via(cluster.kubeconfig, 1, tmp_path)  # nothing listens on port 1
    proxy = await proxy_to(cluster)
    try:
        config = kubeconfig_via(cluster.kubeconfig, proxy.port, tmp_path)
        with (
            running_bridge(closed, namespace, redis_url, tmp_path, BIG_WINDOW) as blind,
            running_bridge(config, namespace, redis_url, tmp_path, BIG_WINDOW) as bridge,
        ):
            await eventually(lambda: asyncio.to_thread(bridge.ready), what="bridge ready")
            proxy.set_mode("refuse")
            ids = await enqueue_many(aredis, 40)
            await eventually(lambda: leased_ids(aredis, "diagnostic"), what="claims")
            await eventually(
                lambda: asyncio.to_thread(lambda: "creates failed" in bridge.log()),
                what="failed creates logged",
            )
            assert await resources(kube, namespace) == {}
            proxy.set_mode("forward")
            await eventually(lambda: all_bridged(kube, namespace, ids), timeout=30, what="CRs")
            await eventually(lambda: _drained(aredis), timeout=15, what="queue and leases empty")
            assert not blind.ready()  # never synced, so it never claimed
            assert blind.process.poll() is None
    finally:
        await proxy.close()
    await assert_each_exactly_once(kube, namespace, aredis, ids)


async def test_e_redis_restarted_mid_claim(
    cluster: LocalCluster, namespace: str, own_redis: RedisServer, tmp_path: Path,
    kube: KubeClient,
) -> None:  # fmt: skip
    client = connect(own_redis.url)
    try:
        ids = await enqueue_many(client, 150)
        extra = {"DEVSKYY_BRIDGE_WINDOW": "25", **SHORT_LEASE}
        with running_bridge(cluster.kubeconfig, namespace, own_redis.url, tmp_path, extra):
            await eventually(lambda: resources(kube, namespace), what="first CRs")
            await admit_all(kube, namespace, ids)  # the bridge goes on claiming...
            await asyncio.to_thread(own_redis.restart)  # ...while Redis dies and returns
            await disconnect(client)  # its pooled connections died with the server
            client = connect(own_redis.url)
            await eventually(lambda: admit_all(kube, namespace, ids), timeout=45, what="CRs")
            await eventually(lambda: _drained(client), timeout=15, what="queue and leases empty")
        await assert_each_exactly_once(kube, namespace, client, ids)
    finally:
        await disconnect(client)
