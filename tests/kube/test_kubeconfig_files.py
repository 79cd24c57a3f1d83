"""The kubeconfig and in-cluster loader on the paths the cluster tests do not reach.

Real files written by each test, real certificates (the devcluster PKI), real
plugin processes; nothing contacts an API server, so no cluster is needed.
"""

from __future__ import annotations

import base64
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from devskyy_devcluster.pki import ClusterPki, client_certificate, create_pki
from devskyy_operator.kube.config import (
    Credential,
    KubeConfigError,
    in_cluster,
    in_cluster_config,
    load_kubeconfig,
)
from devskyy_operator.kube.transport import ssl_context
from tests.kube.support import ExecPlugin, b64, write_kubeconfig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

SERVER = "https://api.example:6443"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ClusterPki:
    return create_pki(tmp_path_factory.mktemp("pki"))


kubeconfig = write_kubeconfig  # contexts here are whole entries (with namespace)


def one_user(path: Path, user: dict[str, Any], **cluster: Any) -> Path:
    return kubeconfig(
        path,
        clusters={"c": {"server": SERVER, **cluster}},
        users={"u": user},
        contexts={"x": {"cluster": "c", "user": "u"}},
        current="x",
    )


def private(path: str | None) -> bytes:
    """The content of a file the loader wrote: it must be readable by us alone."""
    assert path is not None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(Path(path).parent).st_mode) == 0o700
    return Path(path).read_bytes()


# ---------------------------------------------------------------- files and data


def test_relative_paths_are_relative_to_the_file_that_names_them(
    tmp_path: Path, pki: ClusterPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = client_certificate(pki, "someone")
    users_dir = tmp_path / "users"
    users_dir.mkdir()
    (users_dir / "me.crt").write_text(cert)
    (users_dir / "me.key").write_text(key)
    (tmp_path / "clusters" / "ca").mkdir(parents=True)
    (tmp_path / "clusters" / "ca" / "ca.crt").write_bytes(pki.ca_cert.read_bytes())
    clusters = kubeconfig(
        tmp_path / "clusters" / "config",
        clusters={"c": {"server": SERVER, "certificate-authority": "ca/ca.crt"}},
    )
    users = kubeconfig(
        users_dir / "config",
        users={"u": {"client-certificate": "me.crt", "client-key": "./me.key"}},
        contexts={"x": {"cluster": "c", "user": "u"}},
        current="x",
    )
    monkeypatch.chdir("/")  # relative to the files, not to where we run
    config = load_kubeconfig([clusters, users])
    assert config.endpoint.ca_file == str(tmp_path / "clusters" / "ca" / "ca.crt")
    assert config.credential == Credential(
        None, str(users_dir / "me.crt"), str(users_dir / "me.key")
    )
    ssl_context(config)  # the transport can load what they name


def test_inline_data_becomes_private_files_the_transport_loads(
    tmp_path: Path, pki: ClusterPki
) -> None:
    cert, key = client_certificate(pki, "someone")
    ca = pki.ca_cert.read_bytes()
    path = one_user(
        tmp_path / "config",
        {"client-certificate-data": b64(cert), "client-key-data": b64(key)},
        **{"certificate-authority-data": base64.b64encode(ca).decode()},
    )
    config = load_kubeconfig(path)
    assert private(config.endpoint.ca_file) == ca
    assert private(config.credential.cert_file) == cert.encode()
    assert private(config.credential.key_file) == key.encode()
    ssl_context(config)
    again = load_kubeconfig(path)  # the same material: the same files, no new ones
    assert (again.endpoint, again.credential) == (config.endpoint, config.credential)


def test_a_missing_certificate_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = one_user(tmp_path / "config", {"token": "t"}, **{"certificate-authority": "nope.crt"})
    with pytest.raises(KubeConfigError, match=r"certificate-authority .*nope\.crt: no such file"):
        load_kubeconfig(path)


@pytest.mark.parametrize(
    ("user", "cluster", "message"),
    [
        (
            {"auth-provider": {"name": "oidc"}},
            {},
            "auth-provider 'oidc' is not supported; use an exec plugin",
        ),
        ({"token": "t", "username": "a", "password": "b"}, {}, "username/password or a token"),
        ({"client-certificate": "a.crt"}, {}, "client-certificate and client-key: both or neither"),
        ({"client-key": "a", "client-key-data": "YQ=="}, {}, "client-key and client-key-data"),
        ({"token": "t"}, {"tls-server-name": "api"}, "tls-server-name is not supported"),
        ({"token": "t"}, {"certificate-authority-data": "not base64!"}, "is not base64"),
        (
            {"token": "t"},
            {"insecure-skip-tls-verify": True, "certificate-authority": "ca.crt"},
            "choose one",
        ),
        ({"as": "admin", "token": "t"}, {}, "impersonation"),
        (
            {"exec": {"command": "x", "apiVersion": "client.authentication.k8s.io/v1alpha1"}},
            {},
            "v1alpha1' is not supported",
        ),
    ],
)
def test_what_cannot_be_honoured_is_an_error_naming_the_entry(
    tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any], message: str
) -> None:
    path = one_user(tmp_path / "config", user, **cluster)
    with pytest.raises(KubeConfigError) as raised:
        load_kubeconfig(path)
    assert message in str(raised.value)
    assert str(path) in str(raised.value)


def test_username_and_password_are_basic_auth(tmp_path: Path) -> None:
    config = load_kubeconfig(one_user(tmp_path / "c", {"username": "ann", "password": "s3:cret"}))
    assert config.credential.authorization == "Basic " + b64("ann:s3:cret")
    assert config.credential.scheme_and_token == ("Basic", b64("ann:s3:cret"))


def test_a_token_never_shows_in_a_credential_repr(tmp_path: Path) -> None:
    config = load_kubeconfig(one_user(tmp_path / "c", {"token": "very-secret-token"}))
    assert config.credential.authorization == "Bearer very-secret-token"
    assert "very-secret-token" not in repr(config.credential)


async def test_a_token_file_is_read_again_on_every_check(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("first\n")
    config = load_kubeconfig(one_user(tmp_path / "c", {"tokenFile": "token"}), recheck_seconds=0)
    assert (await config.current()).authorization == "Bearer first"
    (tmp_path / "token").write_text("second")
    assert (await config.current()).authorization == "Bearer second"
    (tmp_path / "token").unlink()  # a failed read keeps the last token
    assert (await config.current()).authorization == "Bearer second"


def test_a_file_that_is_not_yaml_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "bad").write_text("clusters: [unclosed\n")
    with pytest.raises(KubeConfigError, match=f"{tmp_path / 'bad'}: cannot be read as YAML"):
        load_kubeconfig(tmp_path / "bad")


# ---------------------------------------------------------------- merging


def test_the_first_file_that_names_an_entry_wins_it_whole(tmp_path: Path) -> None:
    """kubectl: a later file's fields for the same name are dropped, not merged in."""
    first = kubeconfig(
        tmp_path / "first",
        clusters={"c": {"server": "https://first:6443"}},
        users={"u": {"token": "from-first"}},
        contexts={"x": {"cluster": "c", "user": "u", "namespace": "tasks"}},
    )
    second = kubeconfig(
        tmp_path / "second",
        clusters={"c": {"server": "https://second:6443", "proxy-url": "http://proxy:3128"}},
        users={"u": {"username": "ann", "password": "p"}, "v": {"token": "from-second"}},
        contexts={"x": {"cluster": "c", "user": "v"}, "y": {"cluster": "c", "user": "v"}},
        current="y",
    )
    config = load_kubeconfig(f"{first}{os.pathsep}{second}", context="x")
    assert (config.server, config.endpoint.proxy) == ("https://first:6443", None)
    assert config.credential.authorization == "Bearer from-first"
    assert config.namespace == "tasks"
    current = load_kubeconfig([first, second])  # the only current-context: second's "y"
    assert current.credential.authorization == "Bearer from-second"
    assert current.namespace == "default"


def test_the_first_current_context_wins(tmp_path: Path) -> None:
    entries: dict[str, Any] = {
        "clusters": {"c": {"server": SERVER}},
        "users": {"a": {"token": "a"}, "b": {"token": "b"}},
        "contexts": {"a": {"cluster": "c", "user": "a"}, "b": {"cluster": "c", "user": "b"}},
    }
    first = kubeconfig(tmp_path / "first", current="b")
    second = kubeconfig(tmp_path / "second", **entries, current="a")
    config = load_kubeconfig([tmp_path / "absent", first, second])
    assert config.credential.authorization == "Bearer b"


def test_a_name_twice_in_one_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(
        yaml.safe_dump({"users": [{"name": "u", "user": {}}, {"name": "u", "user": {}}]})
    )
    with pytest.raises(KubeConfigError, match=r"users names 'u' twice"):
        load_kubeconfig(path)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"cluster": "c", "user": "ghost"}, "user 'ghost' is not defined"),
        ({"cluster": "elsewhere"}, "cluster 'elsewhere' is not defined"),
        ({"user": "u"}, "names no cluster"),
    ],
)
def test_a_context_must_name_what_exists(
    tmp_path: Path, context: dict[str, Any], message: str
) -> None:
    path = kubeconfig(
        tmp_path / "config",
        clusters={"c": {"server": SERVER}},
        users={"u": {"token": "t"}},
        contexts={"x": context},
        current="x",
    )
    with pytest.raises(KubeConfigError, match=message):
        load_kubeconfig(path)


def test_a_context_without_user_is_anonymous(tmp_path: Path) -> None:
    path = kubeconfig(
        tmp_path / "config", clusters={"c": {"server": SERVER}}, contexts={"x": {"cluster": "c"}}
    )
    assert load_kubeconfig(path, context="x").credential == Credential()


# ---------------------------------------------------------------- exec plugins


def test_a_v1beta1_plugin_gets_the_cluster_it_asked_for_and_its_env(
    tmp_path: Path, pki: ClusterPki
) -> None:
    plugin = ExecPlugin(tmp_path / "plugin", [{"token": "beta-token"}])
    user = plugin.user(
        "client.authentication.k8s.io/v1beta1",
        provideClusterInfo=True,
        env=[{"name": "PLUGIN_GREETING", "value": "hello"}],
    )
    extension = {"name": "client.authentication.k8s.io/exec", "extension": {"audience": "aud"}}
    (tmp_path / "ca.crt").write_bytes(pki.ca_cert.read_bytes())
    path = one_user(
        tmp_path / "config", user, **{"certificate-authority": "ca.crt", "extensions": [extension]}
    )
    config = load_kubeconfig(path)
    assert config.credential.authorization == "Bearer beta-token"
    seen = plugin.seen
    assert seen["greeting"] == "hello"
    assert seen["info"] == {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "spec": {
            "interactive": False,
            "cluster": {
                "server": SERVER,
                "certificate-authority-data": base64.b64encode(pki.ca_cert.read_bytes()).decode(),
                "config": {"audience": "aud"},
            },
        },
    }


def test_a_plugin_is_not_told_the_cluster_unless_it_asks(tmp_path: Path) -> None:
    plugin = ExecPlugin(tmp_path / "plugin", [{"token": "t"}])
    load_kubeconfig(one_user(tmp_path / "config", plugin.user()))
    assert plugin.seen["info"]["spec"] == {"interactive": False}


def test_a_plugin_certificate_is_presented(tmp_path: Path, pki: ClusterPki) -> None:
    cert, key = client_certificate(pki, "plugin-user")
    plugin = ExecPlugin(
        tmp_path / "plugin", [{"clientCertificateData": cert, "clientKeyData": key}]
    )
    config = load_kubeconfig(one_user(tmp_path / "config", plugin.user()))
    assert config.credential.authorization is None
    assert private(config.credential.cert_file) == cert.encode()
    assert private(config.credential.key_file) == key.encode()


def test_a_failing_plugin_shows_its_stderr(tmp_path: Path) -> None:
    plugin = ExecPlugin(tmp_path / "plugin", [None])
    with pytest.raises(KubeConfigError) as raised:
        load_kubeconfig(one_user(tmp_path / "config", plugin.user()))
    message = str(raised.value)
    assert f"user 'u' (in {tmp_path / 'config'})" in message
    assert f"exec plugin {sys.executable!r} gave no credential: exit status 1" in message
    assert "plugin: no credential for you" in message


def test_a_missing_plugin_shows_its_install_hint(tmp_path: Path) -> None:
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": str(tmp_path / "no-such-plugin"),
            "installHint": "apt install the-plugin",
        }
    }
    with pytest.raises(KubeConfigError, match="no such executable: apt install the-plugin"):
        load_kubeconfig(one_user(tmp_path / "config", user))


def test_a_relative_plugin_command_is_relative_to_the_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = ExecPlugin(tmp_path / "kube" / "bin", [{"token": "relative"}])
    plugin.script.write_text(f"#!{sys.executable}\n{plugin.script.read_text()}")
    plugin.script.chmod(0o700)
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "./bin/plugin.py",
            "args": [str(plugin.directory)],
        }
    }
    monkeypatch.chdir("/")
    config = load_kubeconfig(one_user(tmp_path / "kube" / "config", user))
    assert config.credential.authorization == "Bearer relative"


def test_a_static_token_wins_over_the_plugin(tmp_path: Path) -> None:
    """client-go runs the plugin only when the user has no token, password or certificate."""
    plugin = ExecPlugin(tmp_path / "plugin", [{"token": "from-plugin"}])
    config = load_kubeconfig(one_user(tmp_path / "config", {**plugin.user(), "token": "static"}))
    assert config.credential.authorization == "Bearer static"
    assert plugin.runs == 0


async def test_a_refusal_runs_the_plugin_again_once(tmp_path: Path) -> None:
    plugin = ExecPlugin(tmp_path / "plugin", [{"token": "one"}, {"token": "two"}])
    config = load_kubeconfig(one_user(tmp_path / "config", plugin.user()))
    refused = config.credential
    fresh = await config.refresh(refused)
    assert fresh.authorization == "Bearer two"
    assert await config.refresh(refused) == fresh  # already replaced: no second run
    assert plugin.runs == 2


async def test_a_plugin_that_fails_on_renewal_is_an_error_once_the_token_expired(
    tmp_path: Path,
) -> None:
    plugin = ExecPlugin(
        tmp_path / "plugin", [{"token": "old", "expirationTimestamp": "2000-01-01T00:00:00Z"}, None]
    )
    config = load_kubeconfig(one_user(tmp_path / "config", plugin.user()), recheck_seconds=0)
    with pytest.raises(KubeConfigError, match=f"kubeconfig {tmp_path / 'config'}: user 'u'"):
        await config.current()
    assert plugin.runs == 2


# ---------------------------------------------------------------- in-cluster


def service_account(directory: Path, pki: ClusterPki, namespace: str | None = None) -> Path:
    directory.mkdir()
    (directory / "token").write_text("sa-token\n")
    (directory / "ca.crt").write_bytes(pki.ca_cert.read_bytes())
    if namespace is not None:
        (directory / "namespace").write_text(namespace)
    return directory


def test_an_ipv6_service_host_is_bracketed(tmp_path: Path, pki: ClusterPki) -> None:
    directory = service_account(tmp_path / "sa", pki)
    env = {"KUBERNETES_SERVICE_HOST": "fd00:10:96::1", "KUBERNETES_SERVICE_PORT": "443"}
    config = in_cluster_config(directory, env)
    assert config.server == "https://[fd00:10:96::1]:443"
    assert config.namespace == "default"  # no namespace file
    assert config.endpoint.ca_file == str(directory / "ca.crt")
    assert config.credential.authorization == "Bearer sa-token"
    ssl_context(config)


@pytest.mark.parametrize(
    ("remove", "env", "message"),
    [
        ("ca.crt", {}, r"CA .*ca\.crt: no such file"),
        ("token", {}, r"token file .*token: No such file"),
        (None, {"KUBERNETES_SERVICE_PORT": ""}, "KUBERNETES_SERVICE_PORT must be set"),
    ],
)
def test_an_incomplete_service_account_is_an_error(
    tmp_path: Path, pki: ClusterPki, remove: str | None, env: dict[str, str], message: str
) -> None:
    directory = service_account(tmp_path / "sa", pki, "tasks")
    if remove:
        (directory / remove).unlink()
    environ = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"} | env
    with pytest.raises(KubeConfigError, match=message):
        in_cluster_config(directory, environ)


def test_an_empty_token_file_is_an_error(tmp_path: Path, pki: ClusterPki) -> None:
    directory = service_account(tmp_path / "sa", pki)
    (directory / "token").write_text("")
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert in_cluster(env, directory)  # there is a token file, so we are in a pod ...
    with pytest.raises(KubeConfigError, match="is empty"):
        in_cluster_config(directory, env)  # ... but it holds nothing


def test_plugin_output_is_never_quoted(tmp_path: Path) -> None:
    """A plugin that prints garbage (maybe a token) gets an error without that output."""
    plugin = ExecPlugin(tmp_path / "plugin")
    plugin.script.write_text("print('secret-token-not-json')\n")
    with pytest.raises(KubeConfigError) as raised:
        load_kubeconfig(one_user(tmp_path / "config", plugin.user()))
    assert "printed no ExecCredential JSON" in str(raised.value)
    assert "secret-token" not in str(raised.value)
