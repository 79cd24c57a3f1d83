"""Start and stop a real local cluster: control plane and one real node.

etcd -> kube-apiserver (token auth, Node + RBAC authorization, our CA,
service-account keys) -> kube-controller-manager (job, garbage-collector,
namespace, serviceaccount, node-lifecycle, endpointslice, ...) ->
kube-scheduler -> the node (node.py: containerd, kubelet, kube-proxy, CoreDNS,
a registry, in namespaces of its own). With a node, the apiserver listens on
the host end of the node's link (pods reach it through the `kubernetes`
Service VIP); without one (`node=False`, for tests that only need the API), on
a free loopback port. Everything lives in one work directory and dies with the
process that started it.
"""

from __future__ import annotations

import secrets
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
import yaml

from devskyy_devcluster import node_config
from devskyy_devcluster.binaries import Binaries, ensure_binaries
from devskyy_devcluster.images import ImageSet, ensure_images
from devskyy_devcluster.node import Node
from devskyy_devcluster.pki import APISERVER_KUBELET_CLIENT, COREDNS_USER, ClusterPki, create_pki
from devskyy_devcluster.ports import free_port
from devskyy_devcluster.processes import spawn, stop

CONTROLLERS = ",".join(
    [
        "job-controller",
        "garbage-collector-controller",
        "namespace-controller",
        "serviceaccount-controller",
        "serviceaccount-token-controller",
        "root-ca-certificate-publisher-controller",
        "deployment-controller",
        "replicaset-controller",
        "disruption-controller",
        "ttl-after-finished-controller",
        "pod-garbage-collector-controller",
        "persistentvolume-binder-controller",
        # Service endpoints, for kube-proxy and CoreDNS.
        "endpoints-controller",
        "endpointslice-controller",
        "endpointslice-mirroring-controller",
    ]
)
# With a real node only: NotReady taints and evictions. Without one, a Node that
# a benchmark registers itself (a "fast node" without kubelet) would be tainted
# unreachable and its pods evicted.
NODE_CONTROLLERS = "node-lifecycle-controller,taint-eviction-controller"
SERVICE_CIDR = node_config.SERVICE_CIDR
NODE_NAME = "devskyy-local"
STOP_GRACE_SECONDS = 2.0

__all__ = ["NODE_NAME", "SERVICE_CIDR", "LocalCluster", "free_port"]


@dataclass
class LocalCluster:
    """A running control plane; use as a context manager or call start()/stop()."""

    workdir: Path
    binaries: Binaries | None = None
    node: bool = True
    images: ImageSet | None = None
    node_name: str = NODE_NAME
    profiling: bool = False  # the apiserver's /debug/pprof (benchmarks only)
    admin_token: str = field(default_factory=lambda: secrets.token_hex(16))
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    apiserver_host: str = "127.0.0.1"
    apiserver_port: int = 0
    pki: ClusterPki | None = None
    the_node: Node | None = None

    @property
    def server(self) -> str:
        return f"https://{self.apiserver_host}:{self.apiserver_port}"

    @property
    def host_address(self) -> str:
        """Where pods reach this host: the host end of the node's link.

        Servers a test starts for pods (provider stand-ins, Redis) listen here;
        it is an address of this machine only, on a link to our own namespace.
        """
        if self.the_node is None:
            raise RuntimeError("a cluster without a node has no address for pods")
        return self.the_node.addresses.host_ip

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    def start(self, timeout: float = 120.0) -> LocalCluster:
        """Start everything; `timeout` counts from when binaries and images are there."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        bins = self.binaries or ensure_binaries()
        self.binaries = bins
        if self.node and self.images is None:
            self.images = ensure_images(bins)
        deadline = time.monotonic() + timeout
        try:
            extra_ips: list[str] = []
            if self.node:
                assert self.images is not None
                images = self.images
                self.the_node = Node(
                    root=self.workdir / "node", name=self.node_name, binaries=bins,
                    sandbox_image=images.pause, logs=self.logs,
                )  # fmt: skip
                addresses = self.the_node.reserve()
                self.apiserver_host = addresses.host_ip
                self.apiserver_port = node_config.APISERVER_PORT
                extra_ips.append(addresses.host_ip)
            else:
                self.apiserver_port = free_port()
            self.pki = create_pki(self.workdir / "pki", extra_ips=extra_ips)
            if self.the_node is not None:
                self.the_node.prepare(self.pki)
            self._start_etcd(bins, deadline)
            self._start_apiserver(bins, deadline)
            self._write_kubeconfig()
            if self.the_node is not None:
                self._apply_node_objects()
            self._start_controllers(bins)
            if self.the_node is not None:
                self.the_node.start()
                self._await_node_ready(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    # ----------------------------------------------------------------- pieces

    def _start_etcd(self, bins: Binaries, deadline: float) -> None:
        client, peer = free_port(), free_port()
        self.processes["etcd"] = spawn(
            [
                bins.etcd,
                "--data-dir",
                self.workdir / "etcd",
                "--listen-client-urls",
                f"http://127.0.0.1:{client}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{client}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-cluster",
                f"default=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes",
                str(4 * 1024**3),
                "--log-level",
                "warn",
            ],
            self.logs / "etcd.log",
        )
        self._etcd_url = f"http://127.0.0.1:{client}"
        self._await_http(f"{self._etcd_url}/health", deadline, "etcd", verify=False)

    def _start_apiserver(self, bins: Binaries, deadline: float) -> None:
        assert self.pki is not None
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(f'{self.admin_token},admin,admin-uid,"system:masters"\n')
        tokens.chmod(0o600)
        self.processes["kube-apiserver"] = spawn(
            [
                bins.kube_apiserver,
                *self._apiserver_node_flags(),
                "--etcd-servers",
                self._etcd_url,
                "--secure-port",
                str(self.apiserver_port),
                "--bind-address",
                self.apiserver_host,
                "--advertise-address",
                self.apiserver_host,
                "--tls-cert-file",
                self.pki.serving_cert,
                "--tls-private-key-file",
                self.pki.serving_key,
                "--client-ca-file",
                self.pki.ca_cert,
                "--token-auth-file",
                tokens,
                "--authorization-mode",
                "Node,RBAC" if self.node else "RBAC",
                "--service-cluster-ip-range",
                SERVICE_CIDR,
                "--service-account-issuer",
                "https://kubernetes.default.svc.cluster.local",
                "--service-account-key-file",
                self.pki.sa_pub,
                "--service-account-signing-key-file",
                self.pki.sa_key,
                "--allow-privileged=false",
                f"--profiling={str(self.profiling).lower()}",
                "--enable-priority-and-fairness=false",
                "--event-ttl",
                "1h",
                "--v",
                "1",
            ],
            self.logs / "kube-apiserver.log",
        )
        self._await_http(f"{self.server}/readyz", deadline, "kube-apiserver")

    def _write_kubeconfig(self) -> None:
        assert self.pki is not None
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "devskyy-local",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority": str(self.pki.ca_cert),
                    },
                }
            ],
            "users": [{"name": "admin", "user": {"token": self.admin_token}}],
            "contexts": [
                {
                    "name": "devskyy-local",
                    "context": {
                        "cluster": "devskyy-local",
                        "user": "admin",
                        "namespace": "default",
                    },
                }
            ],
            "current-context": "devskyy-local",
        }
        self.kubeconfig.write_text(yaml.safe_dump(doc, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    def _start_controllers(self, bins: Binaries) -> None:
        assert self.pki is not None
        self.processes["kube-controller-manager"] = spawn(
            [
                bins.kube_controller_manager,
                "--kubeconfig",
                self.kubeconfig,
                "--leader-elect=false",
                "--bind-address",
                "127.0.0.1",
                "--secure-port",
                str(free_port()),
                "--controllers",
                f"{CONTROLLERS},{NODE_CONTROLLERS}" if self.node else CONTROLLERS,
                "--service-account-private-key-file",
                self.pki.sa_key,
                "--root-ca-file",
                self.pki.ca_cert,
                "--use-service-account-credentials=false",
                "--concurrent-job-syncs",
                "10",
                # The default client limit (20 QPS) makes the Job controller, not
                # what runs on it, the bottleneck at a few tasks/s (5 writes per Job).
                "--kube-api-qps",
                "200",
                "--kube-api-burst",
                "400",
                "--v",
                "1",
            ],
            self.logs / "kube-controller-manager.log",
        )
        self.processes["kube-scheduler"] = spawn(
            [
                bins.kube_scheduler,
                "--kubeconfig",
                self.kubeconfig,
                "--leader-elect=false",
                "--bind-address",
                "127.0.0.1",
                "--secure-port",
                str(free_port()),
                "--v",
                "1",
            ],
            self.logs / "kube-scheduler.log",
        )

    def _apiserver_node_flags(self) -> list[str | Path]:
        """With a node: endpoints for the `kubernetes` Service, the kubelet API for logs."""
        if self.the_node is None or self.pki is None:
            return ["--endpoint-reconciler-type", "none"]
        return [
            "--enable-admission-plugins", "NodeRestriction",
            "--kubelet-client-certificate", self.pki.cert("apiserver-kubelet-client"),
            "--kubelet-client-key", self.pki.key("apiserver-kubelet-client"),
            "--kubelet-certificate-authority", self.pki.ca_cert,
            "--kubelet-preferred-address-types", "InternalIP",
        ]  # fmt: skip

    def _apply_node_objects(self) -> None:
        """RBAC for the apiserver -> kubelet calls and CoreDNS; the kube-dns Service."""
        assert self.the_node is not None
        objects = node_config.node_objects(
            APISERVER_KUBELET_CLIENT, COREDNS_USER, self.the_node.addresses.node_ip
        )
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        with httpx.Client(verify=self._ssl(), timeout=10.0, headers=headers) as client:
            for collection, doc in objects:
                response = client.post(f"{self.server}{collection}", json=doc)
                if response.status_code not in (200, 201, 409):
                    what = f"{doc['kind']} {doc['metadata']['name']}"
                    raise RuntimeError(f"creating {what}: {response.status_code} {response.text}")

    # ----------------------------------------------------------------- waiting

    def _await_http(self, url: str, deadline: float, what: str, verify: bool = True) -> None:
        headers = {"Authorization": f"Bearer {self.admin_token}"} if verify else {}
        last = ""
        with httpx.Client(verify=self._ssl() if verify else False, timeout=5.0) as client:
            while time.monotonic() < deadline:
                self._check_alive(what)
                try:
                    response = client.get(url, headers=headers)
                    if response.status_code == 200:
                        return
                    last = f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                time.sleep(0.1)
        raise TimeoutError(f"{what} not ready at {url}: {last}")

    def _await_node_ready(self, deadline: float) -> None:
        url = f"{self.server}/api/v1/nodes/{self.node_name}"
        assert self.pki is not None
        with httpx.Client(verify=self._ssl(), timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self.the_node is not None and not self.the_node.alive():
                    log = (self.logs / "node.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"the node exited:\n{log}")
                response = client.get(url, headers={"Authorization": f"Bearer {self.admin_token}"})
                if response.status_code == 200:
                    conditions = response.json().get("status", {}).get("conditions", [])
                    if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                        return
                time.sleep(0.1)
        raise TimeoutError("node never became Ready")

    def _ssl(self) -> ssl.SSLContext:
        assert self.pki is not None
        return ssl.create_default_context(cafile=str(self.pki.ca_cert))

    def _check_alive(self, name: str) -> None:
        process = self.processes.get(name)
        if process is not None and process.poll() is not None:
            log = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log}")

    # ----------------------------------------------------------------- teardown

    def stop(self) -> None:
        """The node first (its namespaces take every pod along), then the control plane.

        A short grace: the cluster's state is thrown away, and the apiserver's
        endpoint reconciler otherwise holds its exit for the whole grace period.
        """
        if self.the_node is not None:
            self.the_node.stop()
        for name in reversed(list(self.processes)):
            stop(self.processes.pop(name), grace=STOP_GRACE_SECONDS)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
