"""Start and stop a real local control plane on free loopback ports.

etcd -> kube-apiserver (token auth, RBAC, our CA, service-account keys) ->
kube-controller-manager (job, garbage-collector, namespace, serviceaccount, ...)
-> kube-scheduler -> the node agent. Everything lives in one work directory and
dies with the process that started it.
"""

from __future__ import annotations

import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
import yaml

from devskyy_devcluster.binaries import Binaries, ensure_binaries
from devskyy_devcluster.pki import ClusterPki, create_pki
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
    ]
)
SERVICE_CIDR = "10.96.0.0/16"
NODE_NAME = "devskyy-local"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalCluster:
    """A running control plane; use as a context manager or call start()/stop()."""

    workdir: Path
    binaries: Binaries | None = None
    node_agent: bool = True
    node_name: str = NODE_NAME
    admin_token: str = field(default_factory=lambda: secrets.token_hex(16))
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    apiserver_port: int = 0
    pki: ClusterPki | None = None

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    def start(self, timeout: float = 120.0) -> LocalCluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        bins = self.binaries or ensure_binaries()
        self.binaries = bins
        self.pki = create_pki(self.workdir / "pki")
        deadline = time.monotonic() + timeout
        try:
            self._start_etcd(bins, deadline)
            self._start_apiserver(bins, deadline)
            self._write_kubeconfig()
            self._start_controllers(bins)
            if self.node_agent:
                self.start_node_agent()
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
        self.apiserver_port = free_port()
        self.processes["kube-apiserver"] = spawn(
            [
                bins.kube_apiserver,
                "--etcd-servers",
                self._etcd_url,
                "--secure-port",
                str(self.apiserver_port),
                "--bind-address",
                "127.0.0.1",
                "--advertise-address",
                "127.0.0.1",
                "--endpoint-reconciler-type",
                "none",
                "--tls-cert-file",
                self.pki.serving_cert,
                "--tls-private-key-file",
                self.pki.serving_key,
                "--client-ca-file",
                self.pki.ca_cert,
                "--token-auth-file",
                tokens,
                "--authorization-mode",
                "RBAC",
                "--service-cluster-ip-range",
                SERVICE_CIDR,
                "--service-account-issuer",
                "https://kubernetes.default.svc.cluster.local",
                "--service-account-key-file",
                self.pki.sa_pub,
                "--service-account-signing-key-file",
                self.pki.sa_key,
                "--allow-privileged=false",
                "--profiling=false",
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
                CONTROLLERS,
                "--service-account-private-key-file",
                self.pki.sa_key,
                "--root-ca-file",
                self.pki.ca_cert,
                "--use-service-account-credentials=false",
                "--concurrent-job-syncs",
                "10",
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

    def start_node_agent(self) -> None:
        """Start (or restart) the node agent as its own process."""
        old = self.processes.pop("node-agent", None)
        if old is not None:
            stop(old)
        self.processes["node-agent"] = spawn(
            [
                sys.executable,
                "-m",
                "devskyy_devcluster.node_agent",
                "--kubeconfig",
                self.kubeconfig,
                "--node-name",
                self.node_name,
                "--state-dir",
                self.workdir / "node",
            ],
            self.logs / "node-agent.log",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

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
                self._check_alive("node-agent")
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
        """Stop in reverse order; the node agent kills its pods on SIGTERM."""
        for name in reversed(list(self.processes)):
            stop(self.processes.pop(name))

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
