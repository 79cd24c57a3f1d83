"""Where the Kubernetes API is and how to authenticate, as kubectl resolves it.

Our own loader (kubeconfig.py, exec_plugin.py, credentials.py), not the
official `kubernetes` package: importing that one costs 46 MiB of RSS (all its
generated models), and kopf imports it too whenever it is installed. Sources:
kubeconfig files (several in KUBECONFIG, merged like kubectl; tokens, token
files, client certificates, username/password, exec credential plugins,
proxy-url) or the pod's ServiceAccount. The result is an `Endpoint` (fixed for
the process) and a `Credential` (the Authorization header and client
certificate, which expire), the same for our client and kopf's login.

Credentials are refreshed two ways: every `RECHECK_SECONDS` the source is
asked again (an exec plugin whose token expires within five minutes runs
again, a token file is read again), and after a 401 the configuration is
loaded again from scratch (a token that died early). A source can run a
plugin, so it is asked in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from devskyy_operator.kube.connection import Credential, Endpoint, KubeConfigError
from devskyy_operator.kube.credentials import CredentialSource, TokenFile, user_source
from devskyy_operator.kube.exec_plugin import exec_info
from devskyy_operator.kube.kubeconfig import Selection, merge, select
from devskyy_operator.kube.private_files import file_for

__all__ = [
    "RECHECK_SECONDS",
    "Credential",
    "Endpoint",
    "KubeConfig",
    "KubeConfigError",
    "auto_config",
    "environment_proxy",
    "in_cluster",
    "in_cluster_config",
    "load_kubeconfig",
]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_KUBECONFIG = ".kube/config"  # under $HOME
RECHECK_SECONDS = 30.0  # well inside the five-minute expiry skew for exec tokens

Load = Callable[[], tuple[Endpoint, CredentialSource]]


def environment_proxy(server: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy HTTPS_PROXY/NO_PROXY name for `server`, by Go's rules (kubectl's):
    loopback is never proxied. Resolved once: aiohttp's trust_env would look it
    up, and .netrc, in a thread on every request."""
    env = os.environ if environ is None else environ
    parts = urlsplit(server)
    host = parts.hostname or ""
    if host == "localhost" or _is_loopback(host):
        return None
    scheme = parts.scheme
    proxy = env.get(f"{scheme}_proxy") or env.get(f"{scheme.upper()}_PROXY")
    if not proxy:
        return None
    no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
    if any(_bypassed(host, entry.strip()) for entry in no_proxy.split(",") if entry.strip()):
        return None
    return proxy


def _bypassed(host: str, entry: str) -> bool:
    """One NO_PROXY entry: "*", a domain (".example" or "example"), a host or a CIDR."""
    if entry == "*":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
    domain = entry.lstrip(".").split(":")[0].lower()
    return host.lower() == domain or host.lower().endswith("." + domain)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class KubeConfig:
    """A resolved configuration: the endpoint plus a credential that refreshes itself."""

    def __init__(self, load: Load, recheck_seconds: float = RECHECK_SECONDS) -> None:
        self._load = load
        self.endpoint, self._source = load()
        self._credential = self._source.current
        self.recheck_seconds = recheck_seconds
        self._next_check = time.monotonic() + recheck_seconds
        self._lock = asyncio.Lock()

    @property
    def server(self) -> str:
        return self.endpoint.server

    @property
    def namespace(self) -> str:
        return self.endpoint.namespace

    @property
    def credential(self) -> Credential:
        """The credential in use now (no refresh)."""
        return self._credential

    async def current(self) -> Credential:
        """The credential to send; every `recheck_seconds` the source renews what is due."""
        if time.monotonic() < self._next_check:
            return self._credential
        async with self._lock:
            if time.monotonic() >= self._next_check:
                self._credential = await asyncio.to_thread(self._renewed)
                self._next_check = time.monotonic() + self.recheck_seconds
        return self._credential

    async def refresh(self, rejected: Credential) -> Credential:
        """After the server refused `rejected` (401): load everything again, once.

        Concurrent callers that were refused the same credential share one reload;
        a caller whose rejected credential was already replaced gets the new one.
        """
        async with self._lock:
            if self._credential == rejected:
                _, self._source = await asyncio.to_thread(self._load)
                self._credential = self._source.current
                self._next_check = time.monotonic() + self.recheck_seconds
        return self._credential

    def _renewed(self) -> Credential:
        try:
            return self._source.renewed()
        except KubeConfigError as exc:
            raise KubeConfigError(f"{self.endpoint.source}: {exc}") from exc


# ---------------------------------------------------------------- kubeconfig


def _split_paths(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    if isinstance(paths, str | os.PathLike):
        return [p for p in str(paths).split(os.pathsep) if p]
    return [str(p) for p in paths]


def read_kubeconfig_files(files: Sequence[str]) -> list[tuple[Path, Any]]:
    """Each existing file's path (absolute: relative paths inside resolve against it) and YAML."""
    documents = []
    for name in files:
        path = Path(os.path.abspath(os.path.expanduser(name)))
        if not path.is_file():
            continue  # kubectl skips missing KUBECONFIG entries
        try:
            documents.append((path, yaml.safe_load(path.read_text())))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise KubeConfigError(f"{path}: cannot be read as YAML: {exc}") from exc
    if not documents:
        raise KubeConfigError("no kubeconfig file found")
    return documents


def _resolve(selection: Selection, source: str) -> tuple[Endpoint, CredentialSource]:
    """The I/O half: files checked, inline data written to private files, plugin run."""
    cluster, user = selection.cluster, selection.user
    where = f"cluster {cluster.name!r}: certificate-authority"
    ca_file = file_for(cluster.ca_file, cluster.ca_data, ".crt", where)
    endpoint = Endpoint(
        server=cluster.server,
        ca_file=ca_file,
        insecure=cluster.insecure,
        proxy=cluster.proxy_url or environment_proxy(cluster.server),
        namespace=selection.namespace,
        source=source,
    )
    info = ""
    if user.exec is not None:
        ca_pem = Path(ca_file).read_bytes() if ca_file and user.exec.provide_cluster_info else None
        info = exec_info(
            user.exec,
            cluster.server,
            ca_pem,
            cluster.insecure,
            cluster.proxy_url,
            cluster.exec_config,
        )
    return endpoint, user_source(user, info)


def _kubeconfig_loader(files: list[str], context: str | None, source: str) -> Load:
    def load() -> tuple[Endpoint, CredentialSource]:
        try:
            return _resolve(select(merge(read_kubeconfig_files(files)), context), source)
        except KubeConfigError as exc:
            raise KubeConfigError(f"{source}: {exc}") from exc

    return load


def load_kubeconfig(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    context: str | None = None,
    recheck_seconds: float = RECHECK_SECONDS,
) -> KubeConfig:
    """One kubeconfig file, or several (os.pathsep-separated) merged as kubectl does.

    Missing files in a list are skipped, as kubectl does for KUBECONFIG; the named
    (or current) context must exist: a kubeconfig without current-context is an
    error rather than "the first context".
    """
    files = _split_paths(paths)
    source = f"kubeconfig {os.pathsep.join(files)}"
    if context:
        source += f" (context {context})"
    if not any(Path(os.path.expanduser(f)).is_file() for f in files):
        raise KubeConfigError(f"{source}: no such file")
    return KubeConfig(_kubeconfig_loader(files, context, source), recheck_seconds)


# ---------------------------------------------------------------- in-cluster


def service_host_url(host: str, port: str) -> str:
    """https://HOST:PORT from the service variables; an IPv6 address in brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"https://{host}:{port}"


def in_cluster_config(
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    environ: Mapping[str, str] | None = None,
    recheck_seconds: float = RECHECK_SECONDS,
) -> KubeConfig:
    """The pod's own ServiceAccount: KUBERNETES_SERVICE_HOST/PORT, token and CA files."""
    env = dict(os.environ if environ is None else environ)
    source = f"in-cluster ({service_account_dir})"

    def load() -> tuple[Endpoint, CredentialSource]:
        host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
        if not host or not port:
            raise KubeConfigError(
                f"{source}: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set"
            )
        ca_file = file_for(service_account_dir / "ca.crt", None, "", f"{source}: CA")
        namespace_file = service_account_dir / "namespace"
        namespace = namespace_file.read_text().strip() if namespace_file.is_file() else ""
        server = service_host_url(host, port)
        endpoint = Endpoint(
            server=server,
            ca_file=ca_file,
            proxy=environment_proxy(server, env),
            namespace=namespace or "default",
            source=source,
        )
        return endpoint, TokenFile(service_account_dir / "token", source)

    return KubeConfig(load, recheck_seconds)


def in_cluster(environ: Mapping[str, str], service_account_dir: Path = SERVICE_ACCOUNT_DIR) -> bool:
    return (
        bool(environ.get("KUBERNETES_SERVICE_HOST")) and (service_account_dir / "token").is_file()
    )


def auto_config(
    kubeconfig: str | None = None,
    environ: Mapping[str, str] | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> KubeConfig:
    """controller-runtime's order: explicit path, $KUBECONFIG, in-cluster, ~/.kube/config.

    In-cluster comes before the home kubeconfig so that a stray ~/.kube/config in
    an image never overrides the pod's own ServiceAccount.
    """
    env = os.environ if environ is None else environ
    if kubeconfig:
        return load_kubeconfig(kubeconfig)
    if env.get("KUBECONFIG"):
        return load_kubeconfig(env["KUBECONFIG"])
    if in_cluster(env, service_account_dir):
        return in_cluster_config(service_account_dir, env)
    home = Path(env.get("HOME") or os.path.expanduser("~")) / DEFAULT_KUBECONFIG
    if home.is_file():
        return load_kubeconfig(str(home))
    raise KubeConfigError(
        "no Kubernetes configuration: set DEVSKYY_KUBECONFIG or KUBECONFIG, run in a pod, "
        f"or write ~/{DEFAULT_KUBECONFIG}"
    )
