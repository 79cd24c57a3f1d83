"""Connection settings for the Kubernetes API: kubeconfig or in-cluster.

Only what our components need: bearer tokens (static or a rotating projected
token file), client certificates and a CA bundle. Exec/auth-provider plugins are
not supported; the control components run in-cluster with their own
ServiceAccount, and developers use the kubeconfig the local cluster writes.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class KubeConfig:
    """Where the API server is and how to authenticate to it."""

    server: str
    ca_file: str | None = None
    token: str | None = None
    token_file: str | None = None
    client_cert_file: str | None = None
    client_key_file: str | None = None
    insecure: bool = False
    namespace: str = "default"

    def ssl_context(self) -> ssl.SSLContext | bool:
        if self.insecure:
            return False
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.client_cert_file:
            context.load_cert_chain(self.client_cert_file, self.client_key_file)
        return context

    def bearer_token(self) -> str | None:
        """The token, re-read from its file each time so rotated tokens are used."""
        if self.token_file:
            return Path(self.token_file).read_text().strip()
        return self.token


def _materialise(data_b64: str, suffix: str) -> str:
    """Write inline base64 kubeconfig data to a private temp file (ssl needs paths)."""
    fd, path = tempfile.mkstemp(prefix="devskyy-kube-", suffix=suffix)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64decode(data_b64))
    return path


def load_kubeconfig(path: str | os.PathLike[str], context: str | None = None) -> KubeConfig:
    """Read the current (or named) context of a kubeconfig file."""
    doc: dict[str, Any] = yaml.safe_load(Path(path).read_text())
    ctx_name = context or doc.get("current-context")
    contexts = {c["name"]: c["context"] for c in doc.get("contexts", [])}
    ctx = contexts[ctx_name] if ctx_name else next(iter(contexts.values()))
    cluster = {c["name"]: c["cluster"] for c in doc["clusters"]}[ctx["cluster"]]
    user = {u["name"]: u.get("user") or {} for u in doc.get("users", [])}.get(ctx.get("user"), {})
    base = Path(path).parent

    def file_or_data(
        file_key: str, data_key: str, source: dict[str, Any], suffix: str
    ) -> str | None:
        if source.get(file_key):
            return str(base / source[file_key])
        if source.get(data_key):
            return _materialise(source[data_key], suffix)
        return None

    return KubeConfig(
        server=cluster["server"].rstrip("/"),
        ca_file=file_or_data(
            "certificate-authority", "certificate-authority-data", cluster, ".crt"
        ),
        token=user.get("token"),
        token_file=user.get("tokenFile"),
        client_cert_file=file_or_data(
            "client-certificate", "client-certificate-data", user, ".crt"
        ),
        client_key_file=file_or_data("client-key", "client-key-data", user, ".key"),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        namespace=ctx.get("namespace", "default"),
    )


def in_cluster_config() -> KubeConfig:
    """The pod's own ServiceAccount, as a kubelet provides it."""
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    namespace_file = SERVICE_ACCOUNT_DIR / "namespace"
    return KubeConfig(
        server=f"https://{host}:{port}",
        ca_file=str(SERVICE_ACCOUNT_DIR / "ca.crt"),
        token_file=str(SERVICE_ACCOUNT_DIR / "token"),
        namespace=namespace_file.read_text().strip() if namespace_file.exists() else "default",
    )


def auto_config(kubeconfig: str | None = None) -> KubeConfig:
    """Explicit kubeconfig, else $KUBECONFIG, else in-cluster."""
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path:
        return load_kubeconfig(path)
    return in_cluster_config()
