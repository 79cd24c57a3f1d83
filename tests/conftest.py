"""Shared fixtures. Servers are real processes started here and always stopped."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import redis

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.kube.client import KubeClient, resource_path
from tests.support.redis_server import RedisServer, running_redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session (AOF on)."""
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client on a freshly flushed database."""
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def redis_url(redis_server: RedisServer, redis_client: redis.Redis) -> str:
    """URL of a freshly flushed Redis."""
    return redis_server.url


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server for tests that kill or restart it."""
    with running_redis(tmp_path / "redis") as server:
        yield server


# ---------------------------------------------------------------- the local cluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A real control plane (etcd, apiserver, controller-manager, scheduler, node agent)."""
    with LocalCluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest_asyncio.fixture(scope="session")
async def kube(cluster: LocalCluster) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_env(str(cluster.kubeconfig)) as client:
        yield client


@pytest_asyncio.fixture
async def namespace(kube: KubeClient) -> AsyncIterator[str]:
    """A fresh namespace per test, enforcing Pod Security "restricted"."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
        },
    }
    await kube.create(resource_path("v1", "namespaces"), body)
    yield name
    await kube.delete(resource_path("v1", "namespaces", name=name))


@pytest.fixture(scope="session")
def devskyy_crd(cluster: LocalCluster) -> str:
    """Our CRD from deploy/crds, applied with kubectl and Established."""
    from tests.support.cluster import kubectl
    from tests.support.operator_process import CRD_FILE

    kubectl(cluster, "apply", "--server-side", "-f", str(CRD_FILE))
    kubectl(
        cluster, "wait", "--for=condition=Established",
        "crd/devskyytasks.devskyy.io", "--timeout=60s",
    )  # fmt: skip
    return "devskyytasks.devskyy.io"
