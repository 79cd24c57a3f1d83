"""Configuration and authentication against the real API server of the local cluster.

Every kubeconfig here is written by the test, every credential is checked by
the API server itself (SelfSubjectReview names who it took us for).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path

import aiohttp
import pytest

from devskyy_devcluster.launcher import LocalCluster
from devskyy_devcluster.pki import client_certificate
from devskyy_operator.controller.login import KopfLogin
from devskyy_operator.kube.client import ApiError, KubeClient
from devskyy_operator.kube.config import (
    KubeConfigError,
    auto_config,
    in_cluster_config,
    load_kubeconfig,
)
from tests.kube.support import (
    ConnectProxy,
    ExecPlugin,
    b64,
    cluster_entry,
    whoami,
    write_kubeconfig,
)
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def exec_kubeconfig(path: Path, cluster: LocalCluster, plugin: ExecPlugin) -> Path:
    return write_kubeconfig(
        path,
        clusters={"local": cluster_entry(cluster)},
        users={"plugin": plugin.user()},
        contexts={"ctx": ("local", "plugin")},
        current="ctx",
    )


# ---------------------------------------------------------------- exec plugins


async def test_an_exec_plugin_authenticates(cluster: LocalCluster, tmp_path: Path) -> None:
    plugin = ExecPlugin(tmp_path / "plugin", [{"token": cluster.admin_token}])
    config = load_kubeconfig(exec_kubeconfig(tmp_path / "kubeconfig", cluster, plugin))
    async with KubeClient(config) as kube:
        assert await whoami(kube) == "admin"
        assert await whoami(kube) == "admin"
    assert plugin.runs == 1  # a token without expiry is kept


async def test_a_refused_token_is_replaced_by_running_the_plugin_again(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """The server refuses the first token (401): the plugin runs again, the request succeeds."""
    plugin = ExecPlugin(
        tmp_path / "plugin", [{"token": "revoked-token"}, {"token": cluster.admin_token}]
    )
    config = load_kubeconfig(exec_kubeconfig(tmp_path / "kubeconfig", cluster, plugin))
    async with KubeClient(config) as kube:
        assert await whoami(kube) == "admin"
        assert plugin.runs == 2
        assert await whoami(kube) == "admin"
        assert plugin.runs == 2


async def test_an_expiring_token_is_refreshed_before_it_is_sent(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """A token that comes near its expiry is replaced by a new run of the plugin, no 401."""
    now = dt.datetime.now(dt.UTC)
    # The client renews five minutes ahead: this one becomes due in about two seconds.
    soon = rfc3339(now + dt.timedelta(minutes=5, seconds=3))
    later = rfc3339(now + dt.timedelta(hours=1))
    plugin = ExecPlugin(
        tmp_path / "plugin",
        [
            {"token": cluster.admin_token, "expirationTimestamp": soon},
            {"token": cluster.admin_token, "expirationTimestamp": later},
        ],
    )
    path = exec_kubeconfig(tmp_path / "kubeconfig", cluster, plugin)
    config = load_kubeconfig(path, recheck_seconds=0.2)
    async with KubeClient(config) as kube:
        assert await whoami(kube) == "admin"
        assert plugin.runs == 1

        async def renewed() -> bool:
            return await whoami(kube) == "admin" and plugin.runs == 2

        await eventually(renewed, timeout=15, what="the plugin to run again")
        for _ in range(3):
            await asyncio.sleep(0.25)  # past the recheck interval: a clock, not a condition
            assert await whoami(kube) == "admin"
        assert plugin.runs == 2  # the new token is good for an hour


async def test_a_failing_plugin_is_an_error_naming_it(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    plugin = ExecPlugin(tmp_path / "plugin", [None])
    with pytest.raises(KubeConfigError, match=r"exec plugin .*python.* gave no credential"):
        load_kubeconfig(exec_kubeconfig(tmp_path / "kubeconfig", cluster, plugin))


async def test_kopf_logs_in_through_the_same_configuration(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """kopf's ConnectionInfo comes from our config; a second login (after a 401) reloads."""
    plugin = ExecPlugin(tmp_path / "plugin", [{"token": cluster.admin_token}])
    config = load_kubeconfig(exec_kubeconfig(tmp_path / "kubeconfig", cluster, plugin))
    login = KopfLogin()
    info = await login(config)
    assert (info.server, info.scheme, info.token) == (cluster.server, "Bearer", cluster.admin_token)
    async with (
        aiohttp.ClientSession(headers=info.as_http_headers()) as session,
        session.get(f"{info.server}/api/v1/namespaces", ssl=info.as_ssl_context()) as response,
    ):
        assert response.status == 200
    assert plugin.runs == 1
    await login(config)  # kopf asks again only when what it had was refused
    assert plugin.runs == 2


# ---------------------------------------------------------------- kubeconfig files


async def test_two_kubeconfig_files_merge_like_kubectl(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """Cluster in one file, user and contexts in the other; the first current-context wins."""
    clusters = write_kubeconfig(
        tmp_path / "clusters", clusters={"local": cluster_entry(cluster)}, current="dev"
    )
    users = write_kubeconfig(
        tmp_path / "users",
        users={"admin": {"token": cluster.admin_token}, "nobody": {"token": "wrong"}},
        contexts={"dev": ("local", "admin"), "broken": ("local", "nobody")},
        current="broken",
    )
    config = auto_config(environ={"KUBECONFIG": f"{clusters}{os.pathsep}{users}"})
    async with KubeClient(config) as kube:
        assert await whoami(kube) == "admin"


async def test_a_missing_file_in_kubeconfig_is_skipped(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    real = write_kubeconfig(
        tmp_path / "real",
        clusters={"local": cluster_entry(cluster)},
        users={"admin": {"token": cluster.admin_token}},
        contexts={"dev": ("local", "admin")},
        current="dev",
    )
    config = auto_config(environ={"KUBECONFIG": f"{tmp_path / 'absent'}{os.pathsep}{real}"})
    async with KubeClient(config) as kube:
        assert await whoami(kube) == "admin"


def test_no_current_context_is_an_error_not_the_first_context(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    path = write_kubeconfig(
        tmp_path / "kubeconfig",
        clusters={"local": cluster_entry(cluster)},
        users={"admin": {"token": cluster.admin_token}},
        contexts={"dev": ("local", "admin")},
    )
    with pytest.raises(KubeConfigError, match="no current-context") as raised:
        load_kubeconfig(path)
    assert str(path) in str(raised.value)
    assert load_kubeconfig(path, context="dev").server == cluster.server  # a named one works


def test_an_unknown_context_is_an_error_naming_it(cluster: LocalCluster, tmp_path: Path) -> None:
    path = write_kubeconfig(
        tmp_path / "kubeconfig",
        clusters={"local": cluster_entry(cluster)},
        contexts={"dev": ("local", "admin")},
        current="staging",
    )
    with pytest.raises(KubeConfigError, match="staging"):
        load_kubeconfig(path)


async def test_client_certificate_with_insecure_skip_tls_verify(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """No CA to verify the server, but the client certificate is still presented."""
    assert cluster.pki is not None
    cert, key = client_certificate(cluster.pki, "cert-user", ("system:masters",))
    path = write_kubeconfig(
        tmp_path / "kubeconfig",
        clusters={"local": cluster_entry(cluster, **{"insecure-skip-tls-verify": True})},
        users={"cert": {"client-certificate-data": b64(cert), "client-key-data": b64(key)}},
        contexts={"dev": ("local", "cert")},
        current="dev",
    )
    config = load_kubeconfig(path)
    assert config.endpoint.insecure
    assert config.endpoint.ca_file is None
    async with KubeClient(config) as kube:
        assert await whoami(kube) == "cert-user"


async def test_proxy_url_is_honoured(cluster: LocalCluster, tmp_path: Path) -> None:
    async with ConnectProxy() as proxy:
        path = write_kubeconfig(
            tmp_path / "kubeconfig",
            clusters={"local": cluster_entry(cluster, **{"proxy-url": proxy.url})},
            users={"admin": {"token": cluster.admin_token}},
            contexts={"dev": ("local", "admin")},
            current="dev",
        )
        async with KubeClient(load_kubeconfig(path)) as kube:
            assert await whoami(kube) == "admin"
            assert await whoami(kube) == "admin"
        assert proxy.tunnels == [f"127.0.0.1:{cluster.apiserver_port}"]  # one HTTP/2 tunnel


# ---------------------------------------------------------------- in-cluster


def service_account_dir(directory: Path, cluster: LocalCluster, token: str) -> Path:
    assert cluster.pki is not None
    directory.mkdir()
    (directory / "token").write_text(token)
    (directory / "ca.crt").write_bytes(cluster.pki.ca_cert.read_bytes())
    (directory / "namespace").write_text("tasks\n")
    return directory


def service_env(cluster: LocalCluster) -> dict[str, str]:
    port = str(cluster.apiserver_port)
    return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port}


async def test_in_cluster_config(cluster: LocalCluster, tmp_path: Path) -> None:
    directory = service_account_dir(tmp_path / "sa", cluster, cluster.admin_token)
    config = in_cluster_config(directory, service_env(cluster))
    assert (config.server, config.namespace) == (cluster.server, "tasks")
    async with KubeClient(config) as kube:
        assert await whoami(kube) == "admin"


def home_kubeconfig(home: Path, cluster: LocalCluster, token: str) -> Path:
    (home / ".kube").mkdir(parents=True)
    return write_kubeconfig(
        home / ".kube" / "config",
        clusters={"local": cluster_entry(cluster)},
        users={"someone": {"token": token}},
        contexts={"dev": ("local", "someone")},
        current="dev",
    )


async def test_home_kubeconfig_is_the_default(cluster: LocalCluster, tmp_path: Path) -> None:
    """No path, no KUBECONFIG, not in a pod: ~/.kube/config."""
    home_kubeconfig(tmp_path / "home", cluster, cluster.admin_token)
    config = auto_config(environ={"HOME": str(tmp_path / "home")}, service_account_dir=tmp_path)
    assert str(tmp_path / "home" / ".kube" / "config") in config.endpoint.source
    async with KubeClient(config) as kube:
        assert await whoami(kube) == "admin"


async def test_in_cluster_comes_before_home_kubeconfig(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    home_kubeconfig(tmp_path / "home", cluster, "a-stray-token-in-the-image")
    directory = service_account_dir(tmp_path / "sa", cluster, cluster.admin_token)
    environ = service_env(cluster) | {"HOME": str(tmp_path / "home")}
    config = auto_config(environ=environ, service_account_dir=directory)
    async with KubeClient(config) as kube:
        assert await whoami(kube) == "admin"


def test_no_configuration_at_all_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="KUBECONFIG"):
        auto_config(environ={"HOME": str(tmp_path)}, service_account_dir=tmp_path)


async def test_a_rotated_token_file_is_picked_up_without_a_restart(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """The projected token is replaced on disk; the next refusal makes us read it again."""
    directory = service_account_dir(tmp_path / "sa", cluster, "old-expired-token")
    async with KubeClient(in_cluster_config(directory, service_env(cluster))) as kube:
        with pytest.raises(ApiError) as refused:
            await whoami(kube)
        assert refused.value.status == 401  # re-read once: still the old token
        (directory / "token").write_text(cluster.admin_token)  # kubelet rotates it
        assert await whoami(kube) == "admin"
