"""The local control plane is real: Jobs, retries, deadlines, pod failure policy.

These tests exercise the real kube-controller-manager's Job controller against
pods that the node agent really runs as processes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.kube.client import KubeClient, resource_path
from tests.support.cluster import (
    job_pods,
    kubectl,
    terminal_condition,
    wait_job_condition,
)
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def job(name: str, script: str, backoff_limit: int = 0, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "task",
        "image": "local/shell",
        "command": ["sh", "-c", script],
        "securityContext": RESTRICTED_CONTAINER,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsUser": 10001, "runAsNonRoot": True},
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                }
            },
        },
    }


async def run_job(
    kube: KubeClient, namespace: str, body: dict[str, Any], timeout: float = 120
) -> dict[str, Any]:
    await kube.create(resource_path("batch/v1", "jobs", namespace), body)
    return await wait_job_condition(kube, namespace, body["metadata"]["name"], timeout)


async def test_server_version_and_ready_node(cluster: LocalCluster) -> None:
    version = json.loads(kubectl(cluster, "version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"].startswith("v1.34.")
    nodes = kubectl(cluster, "get", "nodes", "--no-headers").stdout
    assert cluster.node_name in nodes
    assert " Ready " in f" {nodes} "


async def test_crd_applied_with_kubectl_is_listed(cluster: LocalCluster) -> None:
    plural = f"widgets{uuid.uuid4().hex[:6]}"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.smoke.devskyy.io"},
        "spec": {
            "group": "smoke.devskyy.io",
            "names": {"plural": plural, "singular": plural[:-1], "kind": "Widget" + plural[7:]},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    kubectl(cluster, "apply", "-f", "-", input_text=json.dumps(crd))
    kubectl(
        cluster,
        "wait",
        "--for=condition=Established",
        f"crd/{plural}.smoke.devskyy.io",
        "--timeout=60s",
    )
    listed = kubectl(cluster, "get", "crd", "-o", "name").stdout
    assert f"{plural}.smoke.devskyy.io" in listed
    kubectl(cluster, "delete", "crd", f"{plural}.smoke.devskyy.io")


async def test_job_whose_pod_exits_zero_completes(kube: KubeClient, namespace: str) -> None:
    done = await run_job(kube, namespace, job("ok", "echo hello; exit 0"))
    assert terminal_condition(done)["type"] == "Complete"
    assert done["status"]["succeeded"] == 1


async def test_failing_pod_is_retried_up_to_backoff_limit(kube: KubeClient, namespace: str) -> None:
    done = await run_job(kube, namespace, job("flaky", "exit 1", backoff_limit=2), timeout=150)
    condition = terminal_condition(done)
    assert (condition["type"], condition["reason"]) == ("Failed", "BackoffLimitExceeded")
    pods = await job_pods(kube, namespace, "flaky")
    assert len(pods) == 3
    codes = {p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] for p in pods}
    assert codes == {1}


async def test_deadline_exceeded_kills_the_process(
    kube: KubeClient, namespace: str, cluster: LocalCluster
) -> None:
    marker = f"/tmp/marker-{uuid.uuid4().hex}"
    script = f"echo started > /dev/termination-log; exec sleep 300 # {marker}"
    body = job("slow", script, activeDeadlineSeconds=3)
    done = await run_job(kube, namespace, body)
    condition = terminal_condition(done)
    assert (condition["type"], condition["reason"]) == ("Failed", "DeadlineExceeded")

    def scan() -> bool:
        return not any(marker in _cmdline(p) for p in Path("/proc").iterdir() if p.name.isdigit())

    async def gone() -> bool:
        return await asyncio.to_thread(scan)

    await eventually(gone, timeout=30, what="the sleeping process to be killed")


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


async def test_pod_failure_policy_fails_job_without_retry(kube: KubeClient, namespace: str) -> None:
    policy = {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {"containerName": "task", "operator": "In", "values": [42]},
            },
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        ]
    }
    body = job("permanent", "exit 42", backoff_limit=3, podFailurePolicy=policy)
    done = await run_job(kube, namespace, body)
    condition = terminal_condition(done)
    assert (condition["type"], condition["reason"]) == ("Failed", "PodFailurePolicy")
    assert len(await job_pods(kube, namespace, "permanent")) == 1


async def test_termination_message_and_secret_env_reach_the_pod(
    kube: KubeClient, namespace: str
) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "data": {"TOKEN": base64.b64encode(b"s3cr3t-value").decode()},
    }
    await kube.create(resource_path("v1", "secrets", namespace), secret)
    body = job(
        "msg",
        'printf \'{"token":"%s","uid":"%s"}\' "$TOKEN" "$(id -u)" > /dev/termination-log',
        container={
            "env": [
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "TOKEN"}}}
            ]
        },
    )
    done = await run_job(kube, namespace, body)
    assert terminal_condition(done)["type"] == "Complete"
    pods = await job_pods(kube, namespace, "msg")
    terminated = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert json.loads(terminated["message"]) == {"token": "s3cr3t-value", "uid": "10001"}
