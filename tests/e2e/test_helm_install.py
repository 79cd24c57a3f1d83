"""The Helm chart, installed for real into the local control plane.

`helm install` -> operator, bridge and API Deployments become Available with
pods that the node agent runs as processes, each using its OWN ServiceAccount
token (TokenRequest), so the chart's RBAC is what authorises them -> a task
applied with kubectl and a task submitted through the API both complete ->
`helm upgrade` with changed values rolls out and still works -> `helm
uninstall` leaves nothing stuck and the namespace can be deleted.

The session already applied the CRD (`devskyy_crd`), so the release installs
with crds.install=false; tests/e2e/test_chart_checks.py applies the
crds.install=true render with a server-side dry run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml

from devskyy_devcluster.binaries import REPO_ROOT, ensure_binaries
from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import NotFound
from tests.support.cluster import kubectl, log_dir
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer
from tests.support.tasks import diagnostic, get_task, tasks_path, wait_phase
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

CHART = REPO_ROOT / "deploy" / "helm" / "devskyy-task-operator"
SMALL_VALUES = REPO_ROOT / "examples" / "values-small.yaml"
RELEASE = "devskyy"
FULLNAME = "devskyy-devskyy-task-operator"
COMPONENTS = ("operator", "bridge", "api")
API_TOKEN = "helm-e2e-" + uuid.uuid4().hex
USER = "alice"
FORBIDDEN = re.compile(r"\b403\b|forbidden", re.IGNORECASE)


@dataclass(frozen=True)
class Ports:
    """Container ports: pods on the local node share one host network."""

    operator_health: int
    operator_metrics: int
    bridge_health: int
    bridge_metrics: int
    api: int

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port())

    def set_values(self) -> list[str]:
        return [
            f"operator.ports.health={self.operator_health}",
            f"operator.ports.metrics={self.operator_metrics}",
            f"bridge.ports.health={self.bridge_health}",
            f"bridge.ports.metrics={self.bridge_metrics}",
            f"api.containerPort={self.api}",
        ]


def helm(cluster: LocalCluster, *args: str, timeout: float = 240) -> str:
    binary = ensure_binaries().helm
    assert binary is not None, "helm is missing: run hack/cluster/build.sh"
    result = subprocess.run(
        [str(binary), "--kubeconfig", str(cluster.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def sets(*items: str) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


def diagnose(cluster: LocalCluster, namespace: str) -> str:
    """Pods, events and the tail of every pod log of the namespace."""
    parts = [
        kubectl(
            cluster, "get", "all,devskyytasks", "-n", namespace, "-o", "wide", check=False
        ).stdout,
        kubectl(cluster, "get", "events", "-n", namespace, check=False).stdout[-3000:],
    ]
    for path in sorted(log_dir(cluster).glob(f"{namespace}_*.log")):
        parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-1500:]}")
    return "\n".join(parts)


def manifest(*docs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(docs)


def secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def component_of(pod: dict[str, Any]) -> str:
    return str(pod["metadata"]["labels"]["app.kubernetes.io/component"])


async def release_pods(kube: KubeClient, namespace: str) -> list[dict[str, Any]]:
    return await kube.list(
        resource_path("v1", "pods", namespace),
        labelSelector=f"app.kubernetes.io/instance={RELEASE}",
    )


async def wait_available(kube: KubeClient, namespace: str, generation_after: int = 0) -> None:
    """Every component Deployment observed its latest spec and is Available, fully rolled out."""

    async def rolled_out() -> list[str] | None:
        done = []
        for component in COMPONENTS:
            name = f"{FULLNAME}-{component}"
            deploy = await kube.get(resource_path("apps/v1", "deployments", namespace, name))
            status = deploy.get("status") or {}
            available = any(
                c["type"] == "Available" and c["status"] == "True"
                for c in status.get("conditions") or []
            )
            want = deploy["spec"]["replicas"]
            if (
                available
                and deploy["metadata"]["generation"] > generation_after
                and status.get("observedGeneration") == deploy["metadata"]["generation"]
                and status.get("updatedReplicas") == want
                and status.get("availableReplicas") == want
                and status.get("replicas") == want
            ):
                done.append(name)
        return done if len(done) == len(COMPONENTS) else None

    await eventually(rolled_out, timeout=150, interval=0.5, what="Deployments rolled out")


async def check_own_identities(cluster: LocalCluster, kube: KubeClient, namespace: str) -> None:
    """Operator and bridge run with their own bound ServiceAccount token; the API has none."""
    pods = await release_pods(kube, namespace)
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    assert sorted(component_of(p) for p in running) == sorted(COMPONENTS), diagnose(
        cluster, namespace
    )
    for pod in running:
        component = component_of(pod)
        account = f"{FULLNAME}-{component}"
        assert pod["spec"]["serviceAccountName"] == account
        projected = [v for v in pod["spec"].get("volumes") or [] if "projected" in v]
        if component == "api":
            assert projected == [], "the API must not get Kubernetes credentials"
            continue
        assert len(projected) == 1, projected
        token_file = (
            cluster.workdir / "node" / "pods" / pod["metadata"]["uid"] / "volumes"
            / projected[0]["name"] / "token"
        )  # fmt: skip
        claims = jwt_claims(token_file.read_text())
        assert claims["sub"] == f"system:serviceaccount:{namespace}:{account}"
        assert claims["kubernetes.io"]["pod"]["name"] == pod["metadata"]["name"]


def assert_no_forbidden(cluster: LocalCluster, namespace: str) -> None:
    """The chart's RBAC covers every call the operator and bridge make."""
    logs = [
        p
        for c in ("operator", "bridge")
        for p in log_dir(cluster).glob(f"{namespace}_{FULLNAME}-{c}-*_{c}.log")
    ]
    assert len(logs) >= 2, sorted(p.name for p in log_dir(cluster).glob(f"{namespace}_*"))
    for path in logs:
        denied = [
            line for line in path.read_text(errors="replace").splitlines() if FORBIDDEN.search(line)
        ]
        assert denied == [], f"{path.name}: {denied[:5]}"


def assert_no_restarts(cluster: LocalCluster, namespace: str, pods: list[dict[str, Any]]) -> None:
    """A control process that exits (even with 0) is a crash loop, not a healthy install."""
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            assert status.get("restartCount", 0) == 0, (
                f"{pod['metadata']['name']} restarted: {status.get('lastState')}\n"
                + diagnose(cluster, namespace)
            )


async def run_kubectl_task(
    cluster: LocalCluster, kube: KubeClient, namespace: str, name: str
) -> None:
    kubectl(
        cluster, "apply", "-n", namespace, "-f", "-", input_text=manifest(diagnostic(name, USER))
    )
    try:
        task = await wait_phase(kube, namespace, name, "Succeeded", "Failed", timeout=90)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{diagnose(cluster, namespace)}") from None
    assert task["status"]["phase"] == "Succeeded", (task["status"], diagnose(cluster, namespace))


async def run_api_task(cluster: LocalCluster, kube: KubeClient, namespace: str, port: int) -> str:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
        response = await api.post(
            "/v1/tasks", json={"type": "diagnostic", "input": {"user_id": USER}}, headers=headers
        )
        assert response.status_code == 202, response.text
        task_id = str(response.json()["id"])
        unauthorised = await api.get(f"/v1/tasks/{task_id}")
        assert unauthorised.status_code == 401

        # The bridge turns the queued task into a CR; the operator runs it.
        async def finished() -> dict[str, Any] | None:
            try:
                task = await get_task(kube, namespace, task_id)
            except NotFound:  # not claimed by the bridge yet
                return None
            phase = (task.get("status") or {}).get("phase")
            return task if phase in ("Succeeded", "Failed") else None

        try:
            task = await eventually(finished, timeout=90, what=f"API task {task_id} to finish")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{diagnose(cluster, namespace)}") from None
        assert task["status"]["phase"] == "Succeeded", (
            task["status"],
            diagnose(cluster, namespace),
        )

        async def completed() -> dict[str, Any] | None:
            view = (await api.get(f"/v1/tasks/{task_id}", headers=headers)).json()
            return view if view.get("status") == "completed" else None

        view = await eventually(completed, timeout=30, what=f"API shows {task_id} completed")
        assert view["user_id"] == USER
    return task_id


async def namespace_gone(kube: KubeClient, namespace: str) -> bool:
    try:
        await kube.get(resource_path("v1", "namespaces", name=namespace))
    except NotFound:
        return True
    return False


@pytest.fixture
def release_namespace(cluster: LocalCluster) -> Iterator[str]:
    """A namespace enforcing Pod Security "restricted"; removed even when the test fails."""
    name = f"helm-{uuid.uuid4().hex[:8]}"
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    }
    kubectl(cluster, "apply", "-f", "-", input_text=manifest(body))
    yield name
    exists = kubectl(cluster, "get", "namespace", name, check=False).returncode == 0
    if exists:  # the test failed before it uninstalled: stop the release's processes
        binary = ensure_binaries().helm
        subprocess.run(
            [str(binary), "--kubeconfig", str(cluster.kubeconfig), "uninstall", RELEASE,
             "-n", name, "--wait", "--timeout", "60s"],
            capture_output=True, check=False, timeout=90,
        )  # fmt: skip
        kubectl(cluster, "delete", "namespace", name, "--wait=false", check=False)


async def test_helm_install_upgrade_uninstall(
    cluster: LocalCluster,
    kube: KubeClient,
    devskyy_crd: str,
    own_redis: RedisServer,
    release_namespace: str,
) -> None:
    ns = release_namespace
    crd = await kube.get(
        resource_path("apiextensions.k8s.io/v1", "customresourcedefinitions", name=devskyy_crd)
    )
    # The CRD exists and is not Helm's: the release must not try to own it.
    assert "meta.helm.sh/release-name" not in (crd["metadata"].get("annotations") or {})

    digest = hashlib.sha256(API_TOKEN.encode()).hexdigest()
    secrets = manifest(
        secret("devskyy-redis", {"redis-url": own_redis.url}),
        secret("devskyy-api-tokens", {"api-tokens": f"{USER}:{digest}"}),
        secret("devskyy-task-secrets", {"OPENAI_API_KEY": "sk-not-used-by-diagnostic"}),
    )
    kubectl(cluster, "apply", "-n", ns, "-f", "-", input_text=secrets)

    # ---------------------------------------------------------------- install
    ports = Ports.free()
    helm(
        cluster, "install", RELEASE, str(CHART), "-n", ns, "-f", str(SMALL_VALUES),
        *sets("crds.install=false", "networkPolicy.enabled=false", *ports.set_values()),
        "--wait", "--timeout", "180s",
    )  # fmt: skip
    await wait_available(kube, ns)
    await check_own_identities(cluster, kube, ns)
    lease = await kube.get(
        resource_path("coordination.k8s.io/v1", "leases", ns, "devskyy-operator")
    )
    assert lease["spec"]["holderIdentity"].startswith(f"{FULLNAME}-operator-")

    await run_kubectl_task(cluster, kube, ns, "helm-kubectl-1")
    assert_no_restarts(cluster, ns, await release_pods(kube, ns))
    await run_api_task(cluster, kube, ns, ports.api)
    assert_no_forbidden(cluster, ns)

    # ---------------------------------------------------------------- upgrade
    before = {p["metadata"]["name"] for p in await release_pods(kube, ns)}
    settings_path = resource_path("v1", "configmaps", ns, f"{FULLNAME}-settings")
    assert (await kube.get(settings_path))["data"]["DEVSKYY_CONCURRENCY__DIAGNOSTIC"] == "5"
    generations = {
        c: (await kube.get(resource_path("apps/v1", "deployments", ns, f"{FULLNAME}-{c}")))[
            "metadata"
        ]["generation"]
        for c in COMPONENTS
    }
    # Bridge and API roll surge-first, so on one shared host network the new
    # pods need ports of their own; the operator (Recreate) keeps its ports.
    new = Ports.free()
    new = Ports(ports.operator_health, ports.operator_metrics, new.bridge_health,
                new.bridge_metrics, new.api)  # fmt: skip
    helm(
        cluster, "upgrade", RELEASE, str(CHART), "-n", ns, "--reuse-values",
        *sets("taskTypes.diagnostic.concurrency=2", "settings.bridgeWindow=5", *new.set_values()),
        "--wait", "--timeout", "180s",
    )  # fmt: skip
    await wait_available(kube, ns, generation_after=min(generations.values()))
    for component, generation in generations.items():
        deploy = await kube.get(
            resource_path("apps/v1", "deployments", ns, f"{FULLNAME}-{component}")
        )
        assert deploy["metadata"]["generation"] > generation, component

    async def old_pods_gone() -> bool:
        names = {p["metadata"]["name"] for p in await release_pods(kube, ns)}
        return not names & before

    await eventually(old_pods_gone, timeout=90, interval=0.5, what="old pods replaced")
    data = (await kube.get(settings_path))["data"]
    assert (data["DEVSKYY_CONCURRENCY__DIAGNOSTIC"], data["DEVSKYY_BRIDGE_WINDOW"]) == ("2", "5")
    history = helm(cluster, "history", RELEASE, "-n", ns, "-o", "json")
    assert [r["status"] for r in json.loads(history)] == ["superseded", "deployed"]
    await check_own_identities(cluster, kube, ns)
    await run_kubectl_task(cluster, kube, ns, "helm-kubectl-2")
    await run_api_task(cluster, kube, ns, new.api)
    assert_no_restarts(cluster, ns, await release_pods(kube, ns))
    assert_no_forbidden(cluster, ns)

    # ---------------------------------------------------------------- uninstall
    helm(cluster, "uninstall", RELEASE, "-n", ns, "--wait", "--timeout", "120s")
    for kind in ("deployments", "replicasets", "pods", "services", "serviceaccounts",
                 "roles", "rolebindings", "configmaps"):  # fmt: skip
        left = kubectl(
            cluster, "get", kind, "-n", ns, "-l", f"app.kubernetes.io/instance={RELEASE}", "-o",
            "name",
        ).stdout.split()  # fmt: skip
        assert left == [], (kind, left)

    async def release_processes_gone() -> bool:
        return await release_pods(kube, ns) == []

    await eventually(release_processes_gone, timeout=60, what="release pods gone")
    tasks = await kube.list(tasks_path(ns))
    assert len(tasks) == 4
    for task in tasks:
        assert task["metadata"].get("finalizers") in (None, []), task["metadata"]
        assert task["status"]["phase"] == "Succeeded"
    assert (await get_task(kube, ns, "helm-kubectl-1"))["status"]["phase"] == "Succeeded"
    # The CRD is kept (crds.install=false: not the release's to delete).
    await kube.get(
        resource_path("apiextensions.k8s.io/v1", "customresourcedefinitions", name=devskyy_crd)
    )
    kubectl(cluster, "delete", "namespace", ns, "--wait=false")
    await eventually(
        lambda: namespace_gone(kube, ns), timeout=90, interval=0.5, what=f"namespace {ns} deleted"
    )
