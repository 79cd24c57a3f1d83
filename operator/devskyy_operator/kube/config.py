"""Where the Kubernetes API is and how to authenticate, resolved by the official client.

The `kubernetes` package reads kubeconfig (several files in KUBECONFIG, exec
credential plugins, auth providers, tokens, client certificates, proxy-url) and
the in-cluster ServiceAccount. This module turns its `Configuration` into what
our transports need: an `Endpoint` (fixed for the process) and a `Credential`
(the Authorization header and client certificate, which expire).

Credentials are refreshed two ways, both through the package: every
`RECHECK_SECONDS` its refresh hook runs (it re-runs an exec plugin whose token
expires within five minutes and re-reads the projected token file once a
minute), and after a 401 the configuration is loaded again from scratch (a
token that died early). The hook can run a plugin, so it runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kubernetes.client import Configuration
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader
from kubernetes.config.kube_config import KubeConfigLoader, KubeConfigMerger

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_KUBECONFIG = ".kube/config"  # under $HOME
RECHECK_SECONDS = 30.0  # well inside the package's 5-minute expiry skew for exec tokens


class KubeConfigError(Exception):
    """The configuration cannot be used; the message says which file and field."""


@dataclass(frozen=True)
class Endpoint:
    """Where the API server is and how to trust it (does not change while we run)."""

    server: str
    ca_file: str | None = None
    insecure: bool = False
    proxy: str | None = None  # proxy-url, else HTTPS_PROXY/NO_PROXY as kubectl reads them
    namespace: str = "default"
    source: str = ""  # for messages: which files and context, or "in-cluster"


@dataclass(frozen=True)
class Credential:
    """Who we are: the whole Authorization header value and/or a client certificate."""

    authorization: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @property
    def scheme_and_token(self) -> tuple[str | None, str | None]:
        """RFC 7235 split of the header ("Bearer", "abc"), as kopf's ConnectionInfo wants it."""
        if not self.authorization:
            return None, None
        scheme, _, token = self.authorization.partition(" ")
        return (scheme, token) if token else (None, scheme)


Load = Callable[[], tuple[Configuration, str]]  # the configuration and the namespace


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


def _credential(configuration: Configuration) -> Credential:
    # The hook (if any) runs here: it refreshes an expired token in place.
    header = configuration.get_api_key_with_prefix("BearerToken")
    return Credential(
        authorization=header.strip() if header else None,
        cert_file=configuration.cert_file or None,
        key_file=configuration.key_file or None,
    )


class KubeConfig:
    """A resolved configuration: the endpoint plus a credential that refreshes itself."""

    def __init__(self, load: Load, source: str, recheck_seconds: float = RECHECK_SECONDS) -> None:
        self._load = load
        self._configuration, namespace = load()
        self._credential = _credential(self._configuration)
        self.recheck_seconds = recheck_seconds
        self._next_check = time.monotonic() + recheck_seconds
        self._lock = asyncio.Lock()
        c = self._configuration
        self.endpoint = Endpoint(
            server=str(c.host).rstrip("/"),
            ca_file=c.ssl_ca_cert or None,
            insecure=not c.verify_ssl,
            proxy=c.proxy or environment_proxy(str(c.host)),
            namespace=namespace,
            source=source,
        )
        if getattr(c, "tls_server_name", None):
            raise KubeConfigError(f"{source}: tls-server-name is not supported")

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
        """The credential to send; every `recheck_seconds` the package's hook refreshes it."""
        if time.monotonic() < self._next_check:
            return self._credential
        async with self._lock:
            if time.monotonic() >= self._next_check:
                self._credential = await asyncio.to_thread(_credential, self._configuration)
                self._next_check = time.monotonic() + self.recheck_seconds
        return self._credential

    async def refresh(self, rejected: Credential) -> Credential:
        """After the server refused `rejected` (401): load everything again, once.

        Concurrent callers that were refused the same credential share one reload;
        a caller whose rejected credential was already replaced gets the new one.
        """
        async with self._lock:
            if self._credential == rejected:
                self._configuration, _ = await asyncio.to_thread(self._load)
                self._credential = await asyncio.to_thread(_credential, self._configuration)
                self._next_check = time.monotonic() + self.recheck_seconds
        return self._credential


# ---------------------------------------------------------------- kubeconfig


def _split_paths(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    if isinstance(paths, str | os.PathLike):
        return [p for p in str(paths).split(os.pathsep) if p]
    return [str(p) for p in paths]


def _first_current_context(merger: KubeConfigMerger) -> str | None:
    """kubectl: the first file that sets current-context wins (the package takes the last)."""
    for path in merger.paths:
        name = (merger.config_files[path] or {}).get("current-context")
        if name:
            return str(name)
    return None


def _kubeconfig_loader(files: list[str], context: str | None, source: str) -> Load:
    def load() -> tuple[Configuration, str]:
        try:
            merger = KubeConfigMerger(os.pathsep.join(files))
            if merger.config is None:
                raise KubeConfigError(f"{source}: no kubeconfig file found")
            name = context or _first_current_context(merger)
            if not name:
                raise KubeConfigError(
                    f"{source}: no current-context is set and no context was named "
                    "(kubectl config use-context NAME)"
                )
            loader = KubeConfigLoader(
                config_dict=merger.config, active_context=name, config_base_path=None
            )
            configuration = Configuration()
            loader.load_and_set(configuration)
        except ConfigException as exc:
            raise KubeConfigError(f"{source}: {exc}") from exc
        _require_credentials(configuration, loader.current_context, merger.config, source)
        namespace = (loader.current_context.get("context") or {}).get("namespace")
        return configuration, str(namespace or "default")

    return load


def _require_credentials(
    configuration: Configuration, context: Mapping[str, Any], merged: Any, source: str
) -> None:
    """The package logs and swallows a failing exec plugin; we refuse to go on anonymous."""
    user_name = (context.get("context") or {}).get("user")
    node = merged["users"].get_with_name(user_name, safe=True) if user_name else None
    user: Mapping[str, Any] = (node.safe_get("user") if node is not None else None) or {}
    if "exec" not in user:
        return
    if not configuration.api_key.get("BearerToken") and not configuration.cert_file:
        command = (user["exec"] or {}).get("command", "?")
        raise KubeConfigError(
            f"{source}: user {user_name!r}: exec plugin {command!r} gave no credential "
            "(its error is in the log above)"
        )


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
    return KubeConfig(_kubeconfig_loader(files, context, source), source, recheck_seconds)


# ---------------------------------------------------------------- in-cluster


def in_cluster_config(
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    environ: Mapping[str, str] | None = None,
    recheck_seconds: float = RECHECK_SECONDS,
) -> KubeConfig:
    """The pod's own ServiceAccount: KUBERNETES_SERVICE_HOST/PORT, token and CA files."""
    env = dict(os.environ if environ is None else environ)
    source = f"in-cluster ({service_account_dir})"

    namespace_file = service_account_dir / "namespace"

    def load() -> tuple[Configuration, str]:
        loader = InClusterConfigLoader(
            token_filename=str(service_account_dir / "token"),
            cert_filename=str(service_account_dir / "ca.crt"),
            environ=env,
        )
        configuration = Configuration()
        try:
            loader.load_and_set(configuration)
        except ConfigException as exc:
            raise KubeConfigError(f"{source}: {exc}") from exc
        namespace = namespace_file.read_text().strip() if namespace_file.is_file() else ""
        return configuration, namespace or "default"

    return KubeConfig(load, source, recheck_seconds)


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
