"""Exec credential plugins (client.authentication.k8s.io/v1 and v1beta1), as client-go runs them.

The plugin gets KUBERNETES_EXEC_INFO (an ExecCredential with spec.interactive
false, and spec.cluster when provideClusterInfo is set), prints an
ExecCredential whose status holds a token and/or a client certificate and key
(PEM) and optionally an expirationTimestamp. Parsing is pure; `run_plugin`
is the one function that starts a process (it blocks: callers run it in a
thread). Its stdout is never echoed, since it holds the credential; its stderr
is quoted in errors.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devskyy_operator.kube.connection import KubeConfigError

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
# The cluster extension whose value a plugin gets as spec.cluster.config.
CLUSTER_CONFIG_EXTENSION = "client.authentication.k8s.io/exec"
INTERACTIVE_MODES = ("Never", "IfAvailable", "Always")
RUN_TIMEOUT_SECONDS = 120.0  # a hung plugin must not hold the refresh lock for ever
STDERR_SHOWN = 2000  # characters of the plugin's stderr quoted in an error


@dataclass(frozen=True)
class ExecSpec:
    """The user's `exec` entry."""

    command: str
    api_version: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    provide_cluster_info: bool = False
    install_hint: str | None = None


@dataclass(frozen=True)
class ExecResult:
    """The status of the ExecCredential a plugin printed."""

    token: str | None = None
    cert_pem: str | None = None
    key_pem: str | None = None
    expires: dt.datetime | None = None

    def due(self, now: dt.datetime, skew: dt.timedelta) -> bool:
        """Expires within `skew` (client-go renews five minutes ahead)."""
        return self.expires is not None and self.expires - skew <= now


def parse_exec_spec(entry: Mapping[str, Any], base: Path) -> ExecSpec:
    """The `exec` entry of a user; a relative command with a slash is relative to `base`."""
    command = entry.get("command")
    if not isinstance(command, str) or not command:
        raise KubeConfigError("exec: command is required")
    api_version = entry.get("apiVersion")
    if api_version not in API_VERSIONS:
        raise KubeConfigError(
            f"exec plugin {command!r}: apiVersion {api_version!r} is not supported "
            f"(use {' or '.join(API_VERSIONS)})"
        )
    mode = entry.get("interactiveMode") or "IfAvailable"
    if mode not in INTERACTIVE_MODES:
        raise KubeConfigError(f"exec plugin {command!r}: interactiveMode {mode!r} is not valid")
    if mode == "Always":
        raise KubeConfigError(
            f"exec plugin {command!r}: interactiveMode Always needs a terminal; "
            "an operator has none"
        )
    if os.sep in command and not os.path.isabs(command):
        command = str(base / command)  # client-go: relative to the kubeconfig file
    args = entry.get("args") or []
    env = entry.get("env") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise KubeConfigError(f"exec plugin {command!r}: args must be a list of strings")
    if not isinstance(env, list) or not all(
        isinstance(e, Mapping) and isinstance(e.get("name"), str) for e in env
    ):
        raise KubeConfigError(f"exec plugin {command!r}: env must be a list of {{name, value}}")
    return ExecSpec(
        command=command,
        api_version=str(api_version),
        args=tuple(args),
        env=tuple((str(e["name"]), str(e.get("value") or "")) for e in env),
        provide_cluster_info=bool(entry.get("provideClusterInfo")),
        install_hint=entry.get("installHint") or None,
    )


def exec_info(
    spec: ExecSpec,
    server: str,
    ca_pem: bytes | None,
    insecure: bool,
    proxy_url: str | None,
    cluster_config: Any,
) -> str:
    """KUBERNETES_EXEC_INFO: never interactive; the cluster only when the plugin asked."""
    info: dict[str, Any] = {"interactive": False}
    if spec.provide_cluster_info:
        cluster: dict[str, Any] = {"server": server}
        if ca_pem:
            cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
        if insecure:
            cluster["insecure-skip-tls-verify"] = True
        if proxy_url:
            cluster["proxy-url"] = proxy_url
        if cluster_config is not None:
            cluster["config"] = cluster_config
        info["cluster"] = cluster
    return json.dumps({"apiVersion": spec.api_version, "kind": "ExecCredential", "spec": info})


def parse_exec_credential(output: bytes, spec: ExecSpec) -> ExecResult:
    """The plugin's stdout; errors name the plugin and never quote the output."""
    name = f"exec plugin {spec.command!r}"
    try:
        document = json.loads(output)
    except ValueError:
        raise KubeConfigError(
            f"{name} printed no ExecCredential JSON ({len(output)} bytes)"
        ) from None
    if not isinstance(document, Mapping) or document.get("kind") != "ExecCredential":
        raise KubeConfigError(f"{name} printed JSON that is not an ExecCredential")
    if document.get("apiVersion") != spec.api_version:
        raise KubeConfigError(
            f"{name} is configured for {spec.api_version}, "
            f"it answered {document.get('apiVersion')!r}"
        )
    status = document.get("status")
    if not isinstance(status, Mapping):
        raise KubeConfigError(f"{name} gave no credential (no status in its ExecCredential)")
    token = status.get("token") or None
    cert = status.get("clientCertificateData") or None
    key = status.get("clientKeyData") or None
    if bool(cert) != bool(key):
        raise KubeConfigError(
            f"{name} gave clientCertificateData and clientKeyData: both or neither"
        )
    if not token and not cert:
        raise KubeConfigError(f"{name} gave no credential (neither a token nor a certificate)")
    expires = status.get("expirationTimestamp")
    return ExecResult(
        token=str(token) if token else None,
        cert_pem=str(cert) if cert else None,
        key_pem=str(key) if key else None,
        expires=_timestamp(expires, name) if expires else None,
    )


def _timestamp(value: Any, name: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise KubeConfigError(f"{name}: expirationTimestamp {value!r} is not RFC 3339") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def run_plugin(spec: ExecSpec, info: str) -> ExecResult:
    """Run the plugin once (blocking) and parse what it printed."""
    env = {**os.environ, **dict(spec.env), "KUBERNETES_EXEC_INFO": info}
    name = f"exec plugin {spec.command!r}"
    try:
        done = subprocess.run(
            [spec.command, *spec.args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        hint = f": {spec.install_hint}" if spec.install_hint else ""
        raise KubeConfigError(f"{name} gave no credential: no such executable{hint}") from None
    except PermissionError:
        raise KubeConfigError(f"{name} gave no credential: not executable") from None
    except subprocess.TimeoutExpired:
        raise KubeConfigError(
            f"{name} gave no credential: no answer within {RUN_TIMEOUT_SECONDS:.0f} s"
        ) from None
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip()[-STDERR_SHOWN:]
        raise KubeConfigError(
            f"{name} gave no credential: exit status {done.returncode}; stderr: {stderr or '-'}"
        )
    return parse_exec_credential(done.stdout, spec)
