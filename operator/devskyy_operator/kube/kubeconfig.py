"""kubeconfig documents: merged and resolved as kubectl does, without any I/O.

Input is the parsed YAML of each file with the file's path; output is the
selected context with its cluster and user, every relative path made absolute
against the file that defined the entry. kubectl's merge rules
(client-go clientcmd): the first file that defines a cluster, user or context
name wins, whole (later files' fields for that name are dropped); the first
file that sets a current-context wins.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devskyy_operator.kube.connection import KubeConfigError
from devskyy_operator.kube.exec_plugin import CLUSTER_CONFIG_EXTENSION, ExecSpec, parse_exec_spec

SECTIONS = {"clusters": "cluster", "users": "user", "contexts": "context"}  # list -> entry key


@dataclass(frozen=True)
class Entry:
    """One named cluster, user or context and the file that defined it."""

    name: str
    origin: Path
    body: Mapping[str, Any]

    @property
    def where(self) -> str:
        return f"{self.name!r} (in {self.origin})"


@dataclass
class Merged:
    clusters: dict[str, Entry] = field(default_factory=dict)
    users: dict[str, Entry] = field(default_factory=dict)
    contexts: dict[str, Entry] = field(default_factory=dict)
    current_context: str | None = None
    current_origin: Path | None = None


@dataclass(frozen=True)
class Cluster:
    name: str
    server: str
    ca_file: Path | None = None
    ca_data: bytes | None = None
    insecure: bool = False
    proxy_url: str | None = None
    exec_config: Any = None  # extensions[client.authentication.k8s.io/exec], for plugins


@dataclass(frozen=True)
class User:
    name: str = ""  # "": the context names no user (anonymous)
    origin: Path | None = None
    token: str | None = None
    token_file: Path | None = None
    cert_file: Path | None = None
    cert_data: bytes | None = None
    key_file: Path | None = None
    key_data: bytes | None = None
    basic: tuple[str, str] | None = None  # username, password
    exec: ExecSpec | None = None

    @property
    def where(self) -> str:
        return f"user {self.name!r} (in {self.origin})" if self.name else "anonymous user"


@dataclass(frozen=True)
class Selection:
    context: str
    namespace: str
    cluster: Cluster
    user: User


def merge(documents: Sequence[tuple[Path, Any]]) -> Merged:
    """Merge parsed files in order; a file that holds nothing (empty YAML) adds nothing."""
    merged = Merged()
    for origin, document in documents:
        if document is None:
            continue
        if not isinstance(document, Mapping):
            raise KubeConfigError(f"{origin}: not a kubeconfig (a mapping at the top)")
        for section, key in SECTIONS.items():
            into: dict[str, Entry] = getattr(merged, section)
            for entry in _entries(document, section, key, origin):
                into.setdefault(entry.name, entry)
        current = document.get("current-context")
        if current and merged.current_context is None:
            merged.current_context, merged.current_origin = str(current), origin
    return merged


def _entries(document: Mapping[str, Any], section: str, key: str, origin: Path) -> list[Entry]:
    items = document.get(section) or []
    if not isinstance(items, list):
        raise KubeConfigError(f"{origin}: {section} must be a list")
    entries: dict[str, Entry] = {}
    for item in items:
        name = item.get("name") if isinstance(item, Mapping) else None
        if not isinstance(name, str) or not name:
            raise KubeConfigError(f"{origin}: an entry of {section} has no name")
        if name in entries:
            raise KubeConfigError(f"{origin}: {section} names {name!r} twice")
        body = item.get(key) or {}
        if not isinstance(body, Mapping):
            raise KubeConfigError(f"{origin}: {key} {name!r} must be a mapping")
        entries[name] = Entry(name, origin, body)
    return list(entries.values())


def select(merged: Merged, context: str | None) -> Selection:
    """The named context, else the current one; it must exist, and so must what it names."""
    name = context or merged.current_context
    if not name:
        raise KubeConfigError(
            "no current-context is set and no context was named (kubectl config use-context NAME)"
        )
    chosen = merged.contexts.get(name)
    if chosen is None:
        how = f"current-context in {merged.current_origin}" if not context else "named"
        raise KubeConfigError(f"context {name!r} ({how}) is not defined")
    cluster_name = _text(chosen, "cluster")
    if not cluster_name:
        raise KubeConfigError(f"context {chosen.where} names no cluster")
    cluster = merged.clusters.get(cluster_name)
    if cluster is None:
        raise KubeConfigError(f"context {chosen.where}: cluster {cluster_name!r} is not defined")
    user_name = _text(chosen, "user")
    user = merged.users.get(user_name) if user_name else None
    if user_name and user is None:
        raise KubeConfigError(f"context {chosen.where}: user {user_name!r} is not defined")
    return Selection(
        context=name,
        namespace=_text(chosen, "namespace") or "default",
        cluster=parse_cluster(cluster),
        user=parse_user(user) if user is not None else User(),
    )


def parse_cluster(entry: Entry) -> Cluster:
    where = f"cluster {entry.where}"
    server = _text(entry, "server")
    if not server:
        raise KubeConfigError(f"{where}: server is not set")
    if _text(entry, "tls-server-name"):
        raise KubeConfigError(f"{where}: tls-server-name is not supported")
    ca_file, ca_data = _file_or_data(entry, "certificate-authority", where)
    insecure = entry.body.get("insecure-skip-tls-verify") is True
    if insecure and (ca_file or ca_data):
        raise KubeConfigError(
            f"{where}: insecure-skip-tls-verify with a certificate authority: choose one"
        )
    extensions = entry.body.get("extensions") or []
    exec_config = next(
        (
            e.get("extension")
            for e in extensions
            if isinstance(e, Mapping) and e.get("name") == CLUSTER_CONFIG_EXTENSION
        ),
        None,
    )
    return Cluster(
        name=entry.name,
        server=server.rstrip("/"),
        ca_file=ca_file,
        ca_data=ca_data,
        insecure=insecure,
        proxy_url=_text(entry, "proxy-url"),
        exec_config=exec_config,
    )


def parse_user(entry: Entry) -> User:
    where = f"user {entry.where}"
    if "auth-provider" in entry.body:
        provider = (entry.body.get("auth-provider") or {}).get("name", "?")
        raise KubeConfigError(
            f"{where}: auth-provider {provider!r} is not supported; use an exec plugin"
        )
    if any(entry.body.get(k) for k in ("as", "as-uid", "as-groups", "as-user-extra")):
        raise KubeConfigError(f"{where}: impersonation (as, as-groups, ...) is not supported")
    cert_file, cert_data = _file_or_data(entry, "client-certificate", where)
    key_file, key_data = _file_or_data(entry, "client-key", where)
    if bool(cert_file or cert_data) != bool(key_file or key_data):
        raise KubeConfigError(f"{where}: client-certificate and client-key: both or neither")
    token, token_file = _text(entry, "token"), _path(entry, "tokenFile")
    username, password = _text(entry, "username"), _text(entry, "password")
    if (username or password) and (token or token_file):
        raise KubeConfigError(f"{where}: username/password or a token, not both")
    exec_entry = entry.body.get("exec")
    if exec_entry is not None and not isinstance(exec_entry, Mapping):
        raise KubeConfigError(f"{where}: exec must be a mapping")
    try:
        exec_spec = parse_exec_spec(exec_entry, entry.origin.parent) if exec_entry else None
    except KubeConfigError as exc:
        raise KubeConfigError(f"{where}: {exc}") from None
    return User(
        name=entry.name,
        origin=entry.origin,
        token=token,
        token_file=token_file,
        cert_file=cert_file,
        cert_data=cert_data,
        key_file=key_file,
        key_data=key_data,
        basic=(username or "", password or "") if username or password else None,
        exec=exec_spec,
    )


def _text(entry: Entry, key: str) -> str | None:
    value = entry.body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise KubeConfigError(f"{entry.where}: {key} must be a string")
    return value


def _path(entry: Entry, key: str) -> Path | None:
    """A file named by the entry; relative to the kubeconfig file that holds it."""
    value = _text(entry, key)
    return entry.origin.parent / value if value else None


def _file_or_data(entry: Entry, key: str, where: str) -> tuple[Path | None, bytes | None]:
    """`key` (a path) or `key`-data (base64): kubectl refuses both."""
    path, data = _path(entry, key), _data(entry, f"{key}-data")
    if path and data:
        raise KubeConfigError(f"{where}: {key} and {key}-data: set only one")
    return path, data


def _data(entry: Entry, key: str) -> bytes | None:
    value = _text(entry, key)
    if not value:
        return None
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except binascii.Error:
        raise KubeConfigError(f"{entry.where}: {key} is not base64") from None
