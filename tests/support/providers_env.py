"""Task pod configuration for the provider stand-ins: a real Secret and a real ConfigMap.

The operator gives every task container `envFrom` the Secret named by
DEVSKYY_TASK_SECRET_NAME and the ConfigMap named by DEVSKYY_TASK_CONFIG_MAP, so
the provider keys travel by reference (never in a CR) and the base URLs arrive
as ordinary config. Task pods reach the servers a test started at the cluster's
`host_address` (the host end of the node's link), over plain http:
`plain_http(host)` lists that host in PLAIN_HTTP_HOSTS, which the agents
require for any non-loopback http URL from config.
"""

from __future__ import annotations

from collections.abc import Mapping

from devskyy_operator.kube.client import KubeClient, resource_path
from tests.providers.fashn_server import FashnServer
from tests.providers.openai_server import OpenAIServer
from tests.providers.tripo_server import TripoServer

TASK_SECRET = "devskyy-task-secrets"
TASK_CONFIG = "devskyy-task-config"

# Provider polls every 50 ms instead of every 2 s: the loopback servers finish after 3 polls.
FAST_POLLS = {"TRIPO_POLL_INTERVAL": "0.05", "FASHN_POLL_INTERVAL": "0.05"}


def tripo_secret(server: TripoServer) -> dict[str, str]:
    return {"TRIPO_API_KEY": server.api_key}


def tripo_config(server: TripoServer) -> dict[str, str]:
    return {"TRIPO_API_BASE": server.url}


def fashn_secret(server: FashnServer) -> dict[str, str]:
    return {"FASHN_API_KEY": server.api_key}


def fashn_config(server: FashnServer) -> dict[str, str]:
    return {"FASHN_API_BASE": f"{server.url}/v1"}


def openai_secret(server: OpenAIServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": server.api_key}


def openai_config(server: OpenAIServer) -> dict[str, str]:
    return {"OPENAI_BASE_URL": f"{server.url}/v1", "OPENAI_MAX_RETRIES": "0"}


def plain_http(host: str) -> dict[str, str]:
    return {"PLAIN_HTTP_HOSTS": host}


def smtp_config(host: str, port: int, sender: str) -> dict[str, str]:
    return {
        "SMTP_HOST": host,
        "SMTP_PORT": str(port),
        "SMTP_FROM": sender,
        "SMTP_STARTTLS": "false",
    }


async def put_secret(
    kube: KubeClient, namespace: str, data: Mapping[str, str], name: str = TASK_SECRET
) -> dict[str, object]:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "Opaque",
        "stringData": dict(data),
    }
    return await kube.create(resource_path("v1", "secrets", namespace), body)


async def put_config_map(
    kube: KubeClient, namespace: str, data: Mapping[str, str], name: str = TASK_CONFIG
) -> dict[str, object]:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": dict(data)}
    return await kube.create(resource_path("v1", "configmaps", namespace), body)


def operator_task_env(
    secret: str | None = TASK_SECRET,
    config_map: str | None = TASK_CONFIG,
    claims: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Operator settings pointing task pods at the Secret, the ConfigMap and the PVCs.

    `claims` maps DATASETS/MODELS/ARTIFACTS to a PVC name.
    """
    env: dict[str, str] = {}
    if secret:
        env["DEVSKYY_TASK_SECRET_NAME"] = secret
    if config_map:
        env["DEVSKYY_TASK_CONFIG_MAP"] = config_map
    for kind, claim in (claims or {}).items():
        env[f"DEVSKYY_{kind.upper()}_CLAIM"] = claim
    return env
