"""The local cluster's node is a real one: containerd, image pulls, cgroups, network, logs.

Pods run from our images, pulled from the node's registry by containerd; the
kernel enforces their limits; they reach the apiserver through the
`kubernetes` Service, other pods through Services and cluster DNS, and the
host only at the host end of the node's link.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from typing import Any

import pytest

from devskyy_devcluster.images import ImageSet
from devskyy_devcluster.launcher import LocalCluster
from devskyy_devcluster.node_config import DNS_SERVICE_IP, KUBERNETES_SERVICE_IP, REGISTRY_HOST
from devskyy_operator.kube.client import KubeClient, resource_path
from tests.providers.base import Provider, Reply, Request, serving
from tests.support.cluster import kubectl
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def pod(name: str, image: str, command: list[str], **container: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": container.pop("token", False),
        "securityContext": {"runAsUser": 10001, "runAsNonRoot": True},
        "containers": [
            {"name": "main", "image": image, "command": command, "securityContext": RESTRICTED,
             **container}
        ],
    }  # fmt: skip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


async def run_pod(
    kube: KubeClient, namespace: str, body: dict[str, Any], timeout: float = 120
) -> dict[str, Any]:
    """Create the pod and return it once it ended (Succeeded or Failed)."""
    await kube.create(resource_path("v1", "pods", namespace), body)
    path = resource_path("v1", "pods", namespace, body["metadata"]["name"])

    async def ended() -> dict[str, Any] | None:
        current = await kube.get(path)
        phase = (current.get("status") or {}).get("phase")
        return current if phase in ("Succeeded", "Failed") else None

    return await eventually(ended, timeout=timeout, interval=0.2, what=f"pod {path} to end")


def terminated(pod_: dict[str, Any]) -> dict[str, Any]:
    return dict(pod_["status"]["containerStatuses"][0]["state"]["terminated"])


def logs(cluster: LocalCluster, namespace: str, name: str) -> str:
    return kubectl(cluster, "logs", "-n", namespace, name).stdout


def python(code: str) -> list[str]:
    return ["python3", "-c", code]


async def test_node_is_a_kubelet_on_containerd(cluster: LocalCluster) -> None:
    assert cluster.the_node is not None
    node = json.loads(kubectl(cluster, "get", "node", cluster.node_name, "-o", "json").stdout)
    info = node["status"]["nodeInfo"]
    assert info["containerRuntimeVersion"].startswith("containerd://1.")
    assert info["kubeletVersion"] == "v1.34.4"
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addresses["InternalIP"] == cluster.the_node.addresses.node_ip
    wide = kubectl(cluster, "get", "nodes", "-o", "wide").stdout
    assert "containerd://" in wide


async def test_pod_pulls_our_image_from_the_registry_and_kubectl_logs_it(
    cluster: LocalCluster, kube: KubeClient, namespace: str, images: ImageSet
) -> None:
    marker = f"hello-{uuid.uuid4().hex}"
    body = pod("hello", images.task_api, ["python", "-c", f"print('{marker}')"],
               imagePullPolicy="Always")  # fmt: skip
    done = await run_pod(kube, namespace, body)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert images.task_api.startswith(f"{REGISTRY_HOST}/")
    status = done["status"]["containerStatuses"][0]
    assert status["imageID"].startswith(f"{REGISTRY_HOST}/devskyy/task-api@sha256:")
    events = await kube.list(
        resource_path("v1", "events", namespace), fieldSelector="involvedObject.name=hello"
    )
    assert any(e["reason"] == "Pulled" for e in events), [e["reason"] for e in events]
    assert logs(cluster, namespace, "hello").strip() == marker


async def test_memory_over_the_limit_is_oom_killed(
    kube: KubeClient, namespace: str, images: ImageSet
) -> None:
    body = pod(
        "hog", images.base, python("x = bytearray(256 * 1024 * 1024); print(len(x))"),
        resources={"limits": {"memory": "64Mi", "cpu": "500m"}},
    )  # fmt: skip
    done = await run_pod(kube, namespace, body)
    assert done["status"]["phase"] == "Failed"
    assert (terminated(done)["reason"], terminated(done)["exitCode"]) == ("OOMKilled", 137)


async def test_limits_are_the_containers_cgroup_limits(
    cluster: LocalCluster, kube: KubeClient, namespace: str, images: ImageSet
) -> None:
    read = (
        "print(open('/sys/fs/cgroup/memory/memory.limit_in_bytes').read().strip(),"
        " open('/sys/fs/cgroup/cpu/cpu.cfs_quota_us').read().strip())"
    )
    body = pod("limits", images.base, python(read),
               resources={"limits": {"memory": "100Mi", "cpu": "250m"}})  # fmt: skip
    done = await run_pod(kube, namespace, body)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert logs(cluster, namespace, "limits").split() == [str(100 * 1024 * 1024), "25000"]


async def test_pod_reaches_the_apiserver_through_the_kubernetes_service(
    cluster: LocalCluster, kube: KubeClient, namespace: str, images: ImageSet
) -> None:
    """DNS name -> Service VIP -> kube-proxy -> apiserver, TLS verified with the pod's CA."""
    code = (
        "import json, socket, ssl, urllib.request as u\n"
        "sa = '/var/run/secrets/kubernetes.io/serviceaccount'\n"
        "ip = socket.getaddrinfo('kubernetes.default.svc.cluster.local', 443)[0][4][0]\n"
        "ctx = ssl.create_default_context(cafile=f'{sa}/ca.crt')\n"
        "token = open(f'{sa}/token').read()\n"
        "req = u.Request('https://kubernetes.default.svc/version',"
        " headers={'Authorization': 'Bearer ' + token})\n"
        "print(json.dumps({'ip': ip, 'version': json.load(u.urlopen(req, context=ctx))}))\n"
    )
    done = await run_pod(kube, namespace, pod("api", images.base, python(code), token=True))
    assert done["status"]["phase"] == "Succeeded", logs(cluster, namespace, "api")
    seen = json.loads(logs(cluster, namespace, "api"))
    assert seen["ip"] == KUBERNETES_SERVICE_IP
    assert seen["version"]["gitVersion"] == "v1.34.4"


async def test_pod_reaches_another_pod_through_a_service_name(
    cluster: LocalCluster, kube: KubeClient, namespace: str, images: ImageSet
) -> None:
    server = pod("web", images.base, ["python3", "-m", "http.server", "8080", "-d", "/etc"],
                 ports=[{"containerPort": 8080}])  # fmt: skip
    server["metadata"]["labels"] = {"app": "web"}
    server["spec"]["restartPolicy"] = "Always"
    await kube.create(resource_path("v1", "pods", namespace), server)
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }  # fmt: skip
    await kube.create(resource_path("v1", "services", namespace), service)
    code = (
        "import time, urllib.request as u\n"
        "for _ in range(100):\n"
        "    try:\n"
        f"        print(u.urlopen('http://web.{namespace}.svc.cluster.local/hostname',"
        " timeout=2).read().decode()); break\n"
        "    except OSError: time.sleep(0.3)\n"
        "else: raise SystemExit('web never answered')\n"
    )
    done = await run_pod(kube, namespace, pod("client", images.base, python(code)))
    assert done["status"]["phase"] == "Succeeded", logs(cluster, namespace, "client")
    # /etc/hostname of the server pod is its name: the request went to that pod.
    assert logs(cluster, namespace, "client").strip() == "web"
    resolv = await run_pod(kube, namespace, pod("dns", images.base, ["cat", "/etc/resolv.conf"]))
    assert resolv["status"]["phase"] == "Succeeded"
    assert f"nameserver {DNS_SERVICE_IP}" in logs(cluster, namespace, "dns")


def node_routes(init_pid: int) -> str:
    """The node's IPv4 routing table, read inside its network namespace."""
    return subprocess.run(
        ["nsenter", "-t", str(init_pid), "-n", "ip", "-4", "route"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


class Marker(Provider):
    def route(self, request: Request) -> Reply:
        return Reply.json({"path": request.path})


async def test_pod_reaches_a_test_server_on_the_host_address_and_nothing_else(
    cluster: LocalCluster, kube: KubeClient, namespace: str, images: ImageSet
) -> None:
    assert cluster.the_node is not None
    with serving(Marker(), cluster.host_address) as server:
        code = f"import urllib.request as u; print(u.urlopen('{server.url}/ping').read().decode())"
        done = await run_pod(kube, namespace, pod("reach", images.base, python(code)))
    assert done["status"]["phase"] == "Succeeded", logs(cluster, namespace, "reach")
    assert json.loads(logs(cluster, namespace, "reach")) == {"path": "/ping"}
    assert [r.path for r in server.requests] == ["/ping"]
    # The node has no default route: pods reach the node, each other and the
    # host end of the link, nothing beyond this machine.
    routes = await asyncio.to_thread(node_routes, cluster.the_node.init_pid)
    assert "default" not in routes, routes
    assert cluster.the_node.addresses.subnet.with_prefixlen.split("/")[0] in routes


@pytest.mark.parametrize("image", ["control", "task_api", "task_ml"])
async def test_images_carry_no_tests_dev_tools_or_local_cluster_code(
    cluster: LocalCluster, kube: KubeClient, namespace: str, images: ImageSet, image: str
) -> None:
    code = (
        "import importlib.util as u, json, pathlib\n"
        "names = ['devskyy_operator', 'devskyy_agents', 'devskyy_devcluster', 'tests',"
        " 'pytest', 'mypy', 'ruff', 'hypothesis']\n"
        "found = {n: u.find_spec(n) is not None for n in names}\n"
        "found['/src'] = pathlib.Path('/src').exists()\n"
        "print(json.dumps(found))\n"
    )
    name = f"contents-{image.replace('_', '-')}"
    ref = getattr(images, image)
    done = await run_pod(kube, namespace, pod(name, ref, ["/opt/venv/bin/python", "-c", code]))
    assert done["status"]["phase"] == "Succeeded", logs(cluster, namespace, name)
    found = json.loads(logs(cluster, namespace, name))
    assert found == {
        "devskyy_operator": True, "devskyy_agents": True, "devskyy_devcluster": False,
        "tests": False, "pytest": False, "mypy": False, "ruff": False, "hypothesis": False,
        "/src": False,
    }  # fmt: skip
