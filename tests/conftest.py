"""Shared fixtures. Servers are real processes started here and always stopped."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import redis

from devskyy_devcluster.images import ImageSet, ensure_images
from devskyy_devcluster.launcher import LocalCluster
from devskyy_devcluster.postgres import PostgresServer
from devskyy_operator.kube.client import KubeClient, resource_path
from tests.support.postgres_server import fresh_database, running_postgres
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


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One real PostgreSQL for the session, with a migrated template database."""
    with running_postgres(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> str:
    """URL of a fresh, migrated database of its own."""
    return fresh_database(postgres_server)


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A private PostgreSQL (migrated template included) for tests that stop it."""
    with running_postgres(tmp_path / "postgres") as server:
        yield server


# ---------------------------------------------------------------- the local cluster


IMAGES = pytest.StashKey[ImageSet]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the images before the first test, outside every test's timeout.

    A code change makes them minutes old work; a session fixture would spend
    that inside the timeout of whichever test happens to come first.
    """
    if any("images" in getattr(item, "fixturenames", ()) for item in session.items):
        session.config.stash[IMAGES] = ensure_images()


@pytest.fixture(scope="session")
def images(pytestconfig: pytest.Config) -> ImageSet:
    """Our images, built from task_images/ and pushed to the local registry storage.

    Content-tagged: seconds when nothing changed since the last run.
    """
    return pytestconfig.stash.get(IMAGES, None) or ensure_images()


@pytest.fixture(scope="session")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, images: ImageSet
) -> LocalCluster:
    """The suite's cluster: control plane and one real node (kubelet + containerd).

    Shared by every test (a fresh namespace each); tests that must kill a
    component start a private cluster (its node gets its own slot). Stopped
    when pytest exits (a config cleanup), not in the teardown of whichever
    test ran last, whose timeout would then have to cover it.
    """
    running = LocalCluster(tmp_path_factory.mktemp("cluster"), images=images)
    request.config.add_cleanup(running.stop)
    return running.start()


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
    """Our CRDs from deploy/crds (tasks and workflows, as the chart installs them),
    applied with kubectl and Established; the task CRD's name."""
    from tests.support.cluster import kubectl
    from tests.support.operator_process import CRD_FILE, WORKFLOW_CRD_FILE

    for path in (CRD_FILE, WORKFLOW_CRD_FILE):
        kubectl(cluster, "apply", "--server-side", "-f", str(path))
    kubectl(
        cluster, "wait", "--for=condition=Established",
        "crd/devskyytasks.devskyy.io", "crd/devskyyworkflows.devskyy.io", "--timeout=60s",
    )  # fmt: skip
    return "devskyytasks.devskyy.io"


@pytest.fixture(scope="session")
def schedule_crd(cluster: LocalCluster, devskyy_crd: str) -> str:
    """The DevSkyySchedule CRD from deploy/crds, applied and Established."""
    from tests.support.cluster import kubectl
    from tests.support.schedules import SCHEDULE_CRD_FILE

    kubectl(cluster, "apply", "--server-side", "-f", str(SCHEDULE_CRD_FILE))
    kubectl(
        cluster, "wait", "--for=condition=Established",
        "crd/devskyyschedules.devskyy.io", "--timeout=60s",
    )  # fmt: skip
    return "devskyyschedules.devskyy.io"
