"""The bridge stopped as Kubernetes stops it: SIGTERM mid-claim is a clean stop.

Exit 0, no ERROR line, one INFO line; the cycle in progress finishes (or, with
the apiserver not answering, is cut short after the grace); every claim still
held goes back to the queue at once instead of when its lease expires; a
successor bridge then makes each task exactly one CR.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient
from devskyy_operator.redisq import Redis
from devskyy_operator.redisq.claim import leased_ids
from tests.bridge.proxy import TcpProxy, kubeconfig_via
from tests.bridge.support import (
    BridgeProcess,
    all_bridged,
    assert_each_exactly_once,
    enqueue_many,
    resources,
    running_bridge,
)
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120), pytest.mark.usefixtures("devskyy_crd")]

# Leases far longer than the test: a claim back in the queue got there by the
# hand-back, not by expiring.
LONG_LEASE = {"DEVSKYY_LEASE_SECONDS": "600", "DEVSKYY_BRIDGE_WINDOW": "500"}
GRACE_SECONDS = 2.0


async def sigterm(bridge: BridgeProcess) -> tuple[int, list[str]]:
    offset = len(bridge.log())
    bridge.process.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(bridge.process.wait, 30)
    return code, bridge.log()[offset:].splitlines()


def assert_clean_stop(code: int, lines: list[str]) -> str:
    """Exit 0, no ERROR, exactly one INFO stop line (returned)."""
    assert code == 0, "\n".join(lines)
    assert not [line for line in lines if " - ERROR - " in line], "\n".join(lines)
    stopped = [line for line in lines if "devskyy bridge stopped on SIGTERM" in line]
    assert len(stopped) == 1, "\n".join(lines)
    assert " - INFO - " in stopped[0]
    return stopped[0]


async def converge(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    aredis: Redis, ids: list[str],
) -> None:  # fmt: skip
    with running_bridge(cluster.kubeconfig, namespace, redis_url, tmp_path, LONG_LEASE):
        await eventually(lambda: all_bridged(kube, namespace, ids), timeout=30, what="all CRs")
        await eventually(lambda: _no_leases(aredis), timeout=15, what="leases released")
    await assert_each_exactly_once(kube, namespace, aredis, ids)


async def _no_leases(redis: Redis) -> bool:
    return await redis.zcard(keys.leases_key("diagnostic")) == 0


async def test_sigterm_with_creates_hanging_hands_every_claim_back(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    aredis: Redis,
) -> None:  # fmt: skip
    proxy = await TcpProxy(cluster.apiserver_port).start()
    try:
        config = kubeconfig_via(cluster.kubeconfig, proxy.port, tmp_path)
        extra = {**LONG_LEASE, "DEVSKYY_BRIDGE_STOP_GRACE_SECONDS": str(GRACE_SECONDS)}
        with running_bridge(config, namespace, redis_url, tmp_path, extra) as bridge:
            await eventually(lambda: asyncio.to_thread(bridge.ready), what="bridge ready")
            proxy.set_mode("hold")  # the creates hang: the claims are in flight
            ids = await enqueue_many(aredis, 30)
            await eventually(lambda: leased_ids(aredis, "diagnostic"), what="claims")
            code, lines = await sigterm(bridge)
        stopped = assert_clean_stop(code, lines)
        assert "handed back" in stopped
        # Back in the queue now (the leases had ten minutes to go), nothing created.
        assert await leased_ids(aredis, "diagnostic") == {}
        assert await aredis.zcard(keys.queue_key("diagnostic")) == len(ids)
        assert await resources(kube, namespace) == {}
    finally:
        await proxy.close()
    await converge(cluster, namespace, redis_url, tmp_path, kube, aredis, ids)


async def test_sigterm_while_failing_creates_hands_held_claims_back(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    aredis: Redis,
) -> None:  # fmt: skip
    proxy = await TcpProxy(cluster.apiserver_port).start()
    try:
        config = kubeconfig_via(cluster.kubeconfig, proxy.port, tmp_path)
        with running_bridge(config, namespace, redis_url, tmp_path, LONG_LEASE) as bridge:
            await eventually(lambda: asyncio.to_thread(bridge.ready), what="bridge ready")
            proxy.set_mode("refuse")  # every create fails at once: claims are held
            ids = await enqueue_many(aredis, 20)
            await eventually(
                lambda: asyncio.to_thread(lambda: "leases kept, retrying" in bridge.log()),
                what="failed creates",
            )  # fmt: skip
            code, lines = await sigterm(bridge)
        assert_clean_stop(code, lines)
        assert await leased_ids(aredis, "diagnostic") == {}
        assert await aredis.zcard(keys.queue_key("diagnostic")) == len(ids)
    finally:
        await proxy.close()
    await converge(cluster, namespace, redis_url, tmp_path, kube, aredis, ids)


async def test_sigterm_mid_stream_finishes_the_cycle(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient,
    aredis: Redis,
) -> None:  # fmt: skip
    with running_bridge(cluster.kubeconfig, namespace, redis_url, tmp_path, LONG_LEASE) as bridge:
        await eventually(lambda: asyncio.to_thread(bridge.ready), what="bridge ready")
        ids = await enqueue_many(aredis, 300)
        await eventually(lambda: resources(kube, namespace), what="the first CRs")
        code, lines = await sigterm(bridge)
    assert_clean_stop(code, lines)
    # Every task is a CR or back in the queue: none stranded under a lease.
    assert await leased_ids(aredis, "diagnostic") == {}
    made = set(await resources(kube, namespace))
    assert len(made) + await aredis.zcard(keys.queue_key("diagnostic")) == len(ids)
    await converge(cluster, namespace, redis_url, tmp_path, kube, aredis, ids)
