"""The local cluster's node: containerd + kubelet + kube-proxy + CoreDNS + registry.

Everything of the node runs under one `unshare --net --mount --pid` (node_init
is its PID 1), so it is isolated from the host and from the node of any other
cluster on this machine: its own iptables (kube-proxy's chains, the CNI's NAT),
its own bridge, pod subnet and Service VIPs, its own /run, /var/log,
/var/lib/{kubelet,containerd,cni}, and a kubelet cgroup root of its own
(`/devskyy-node-<slot>`). A slot (an flock in /run/lock) gives each running
node its link addresses; see node_config.py.

Nothing outlives the node: unshare and node_init die with the launcher
(PR_SET_PDEATHSIG and unshare's --kill-child), the kernel then kills every
process of the PID namespace (shims and containers too) and drops the mount
and network namespaces with their mounts, veths, bridge and rules. What is
left is the cgroup tree: stop() removes it, and so does node_reaper when the
launcher died without stopping.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from io import TextIOWrapper
from pathlib import Path

import yaml

from devskyy_devcluster import node_config as cfg
from devskyy_devcluster.binaries import Binaries
from devskyy_devcluster.images import registry_storage
from devskyy_devcluster.pki import (
    APISERVER_KUBELET_CLIENT,
    COREDNS_USER,
    KUBE_PROXY_USER,
    ClusterPki,
    issue_client_cert,
    issue_serving_cert,
)
from devskyy_devcluster.processes import spawn, stop

SLOT_LOCKS = Path("/run/lock")
CGROUP_MOUNTS = Path("/sys/fs/cgroup")


# ------------------------------------------------------------------ slots


def acquire_slot() -> tuple[int, TextIOWrapper]:
    """The lowest free node slot on this machine; held while the file stays open."""
    for slot in range(1, cfg.MAX_SLOTS + 1):
        handle = (SLOT_LOCKS / f"devskyy-node-{slot}.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return slot, handle
    raise RuntimeError(f"all {cfg.MAX_SLOTS} node slots of this machine are taken")


# ------------------------------------------------------------------ cgroups


def cgroup_hierarchies() -> list[Path]:
    """Every mounted cgroup hierarchy (v1 controllers, name=systemd, the v2 tree)."""
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, target, fstype, *_ = line.split()
        if fstype in ("cgroup", "cgroup2") and target.startswith(str(CGROUP_MOUNTS)):
            found.append(Path(target))
    return found


def remove_cgroup_tree(root: str, timeout: float = 20.0) -> list[str]:
    """rmdir the tree bottom-up in every hierarchy; return what could not go."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for hierarchy in cgroup_hierarchies():
            top = hierarchy / root.lstrip("/")
            if not top.exists():
                continue
            for directory, _, _ in sorted(os.walk(top), key=lambda d: -len(d[0])):
                try:
                    os.rmdir(directory)
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(directory)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def create_cgroup_root(root: str) -> None:
    """The kubelet requires its cgroup root to exist in every hierarchy."""
    for hierarchy in cgroup_hierarchies():
        path = hierarchy / root.lstrip("/")
        path.mkdir(exist_ok=True)
        if (hierarchy / "cpuset.cpus").exists():  # v1 cpuset starts empty
            for name in ("cpuset.cpus", "cpuset.mems"):
                (path / name).write_text((hierarchy / name).read_text())


# ------------------------------------------------------------------ the node


def _kubeconfig(server: str, ca: Path, cert: Path, key: Path, user: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": {"server": server,
                                                        "certificate-authority": str(ca)}}],
            "users": [{"name": user, "user": {"client-certificate": str(cert),
                                              "client-key": str(key)}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
            "current-context": "local",
        }
    )  # fmt: skip


def _host(*args: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip()}")


@dataclass
class Node:
    """One node; prepare() before the apiserver starts, start() once it serves."""

    root: Path
    name: str
    binaries: Binaries
    sandbox_image: str
    logs: Path
    pki: ClusterPki | None = None
    slot: int = 0
    _slot_lock: TextIOWrapper | None = None
    process: subprocess.Popen[bytes] | None = None
    reaper: subprocess.Popen[bytes] | None = None
    init_pid: int = 0
    addresses: cfg.NodeAddresses = field(init=False)
    paths: cfg.NodePaths = field(init=False)

    def reserve(self) -> cfg.NodeAddresses:
        """Take a slot: the link addresses the apiserver's certificate and bind need."""
        self.slot, self._slot_lock = acquire_slot()
        self.addresses = cfg.NodeAddresses(self.slot)
        self.paths = cfg.NodePaths(self.root)
        # A node of this slot that crashed may have left its (empty) cgroups.
        remove_cgroup_tree(self.addresses.cgroup_root, timeout=5)
        with contextlib.suppress(RuntimeError):
            _host("ip", "link", "delete", self.addresses.host_link)
        self._start_reaper()
        return self.addresses

    def _start_reaper(self) -> None:
        assert self._slot_lock is not None
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / "node-reaper.log").open("ab") as log:
            self.reaper = subprocess.Popen(
                [sys.executable, "-m", "devskyy_devcluster.node_reaper",
                 self.addresses.host_link, self.addresses.cgroup_root],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, pass_fds=(self._slot_lock.fileno(),),
            )  # fmt: skip

    @property
    def server(self) -> str:
        return f"https://{self.addresses.host_ip}:{cfg.APISERVER_PORT}"

    def prepare(self, pki: ClusterPki) -> None:
        """Certificates, configs, namespaces and the link; the daemons wait for start()."""
        self.pki = pki
        self._write_certificates()
        self._write_configs()
        create_cgroup_root(self.addresses.cgroup_root)
        self._spawn_namespaces()
        self._create_link()

    def start(self) -> None:
        """Bring up the node's end of the link and start the daemons."""
        assert self.init_pid
        os.kill(self.init_pid, signal.SIGUSR1)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Kill the namespaces' PID 1 and wait until the node's network is gone."""
        if self.process is not None:
            stop(self.process, grace=0)
            self.process = None
        if self.slot:
            deadline = time.monotonic() + 30
            while Path(f"/sys/class/net/{self.addresses.host_link}").exists():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            left = remove_cgroup_tree(self.addresses.cgroup_root)
            if left:
                print(f"node cgroups still busy: {left[:3]}", file=sys.stderr)
        if self.reaper is not None:
            assert self.reaper.stdin is not None
            self.reaper.stdin.close()
            self.reaper.wait(timeout=60)
            self.reaper = None
        if self._slot_lock is not None:
            self._slot_lock.close()
            self._slot_lock = None

    # -------------------------------------------------------------- pieces

    def _write_certificates(self) -> None:
        assert self.pki is not None
        issue_serving_cert(
            self.pki, "kubelet", self.name, [self.name], [self.addresses.node_ip, "127.0.0.1"]
        )
        issue_client_cert(self.pki, "kubelet-client", f"system:node:{self.name}",
                          ["system:nodes"])  # fmt: skip
        issue_client_cert(self.pki, "apiserver-kubelet-client", APISERVER_KUBELET_CLIENT)
        issue_client_cert(self.pki, "kube-proxy", KUBE_PROXY_USER)
        issue_client_cert(self.pki, "coredns", COREDNS_USER)

    def kubeconfig(self, name: str) -> Path:
        return self.paths.config / f"{name}.kubeconfig"

    def _write_configs(self) -> None:
        assert self.pki is not None
        paths, addresses = self.paths, self.addresses
        paths.config.mkdir(parents=True, exist_ok=True)
        for name, user in (
            ("kubelet-client", f"system:node:{self.name}"),
            ("kube-proxy", KUBE_PROXY_USER),
            ("coredns", COREDNS_USER),
        ):
            self.kubeconfig(name).write_text(
                _kubeconfig(self.server, self.pki.ca_cert, self.pki.cert(name),
                            self.pki.key(name), user)
            )  # fmt: skip
        paths.containerd_config.write_text(cfg.containerd_config(paths, self.sandbox_image))
        for registry in (cfg.REGISTRY_HOST, addresses.registry):
            hosts = paths.registry_hosts / registry
            hosts.mkdir(parents=True, exist_ok=True)
            (hosts / "hosts.toml").write_text(cfg.registry_hosts_toml(registry))
        paths.cni_conf_dir.mkdir(parents=True, exist_ok=True)
        (paths.cni_conf_dir / "10-devskyy.conflist").write_text(cfg.to_json(cfg.cni_conflist()))
        paths.kubelet_config.write_text(
            cfg.to_json(cfg.kubelet_config(addresses, self.pki.directory, paths))
        )
        paths.kube_proxy_config.write_text(
            cfg.to_json(cfg.kube_proxy_config(addresses, self.kubeconfig("kube-proxy"), self.name))
        )
        paths.corefile.write_text(cfg.corefile(self.kubeconfig("coredns")))
        paths.registry_config.write_text(cfg.to_json(cfg.registry_config(registry_storage())))
        paths.resolv_conf.write_text(cfg.resolv_conf())
        paths.tunables.mkdir(parents=True, exist_ok=True)
        tunables = {}
        for sysctl, value in cfg.KUBELET_KERNEL_TUNABLES.items():
            file = paths.tunables / sysctl.replace("/", ".")
            file.write_text(f"{value}\n")
            tunables[sysctl] = str(file)
        spec = {
            "node_ip": addresses.node_ip,
            "prefix": addresses.prefix,
            "bind_mounts": {str(paths.state(k)): v for k, v in cfg.NODE_BIND_MOUNTS.items()},
            "tunables": tunables,
            "sysctls": {
                "net/ipv4/ip_forward": 1,
                "net/bridge/bridge-nf-call-iptables": 1,
                "net/ipv4/conf/all/route_localnet": 1,
            },
            "ready_file": str(self.root / "mounted"),
            "daemons": self._daemons(),
        }
        paths.spec.write_text(json.dumps(spec, indent=2))

    def _daemons(self) -> list[dict[str, object]]:
        b, paths = self.binaries, self.paths
        return [
            {"name": "registry", "args": [str(b.registry), "serve", str(paths.registry_config)],
             "log": str(self.logs / "registry.log")},
            {"name": "containerd",
             "args": ["containerd", "--config", str(paths.containerd_config),
                      "--log-level", "warn"],
             "log": str(self.logs / "containerd.log"), "wait_for": cfg.CONTAINERD_SOCKET},
            {"name": "kubelet",
             "args": [str(b.kubelet), "--config", str(paths.kubelet_config),
                      "--kubeconfig", str(self.kubeconfig("kubelet-client")),
                      "--node-ip", self.addresses.node_ip, "--hostname-override", self.name,
                      "--v", "1"],
             "log": str(self.logs / "kubelet.log")},
            {"name": "kube-proxy",
             "args": [str(b.kube_proxy), "--config", str(paths.kube_proxy_config), "--v", "1"],
             "log": str(self.logs / "kube-proxy.log")},
            {"name": "coredns", "args": [str(b.coredns), "-conf", str(paths.corefile)],
             "log": str(self.logs / "coredns.log")},
        ]  # fmt: skip

    def _spawn_namespaces(self) -> None:
        ready = self.root / "mounted"
        ready.unlink(missing_ok=True)
        self.process = spawn(
            ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child=SIGKILL",
             "--mount-proc", "--propagation", "private",
             sys.executable, "-m", "devskyy_devcluster.node_init", self.paths.spec],
            self.logs / "node.log",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not ready.exists():
            if self.process.poll() is not None:
                log = (self.logs / "node.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the node's namespaces did not come up:\n{log}")
            if time.monotonic() > deadline:
                raise TimeoutError("the node's namespaces did not come up within 30 s")
            time.sleep(0.05)
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        self.init_pid = int(children.read_text().split()[0])

    def _create_link(self) -> None:
        a = self.addresses
        _host("ip", "link", "add", a.host_link, "mtu", str(cfg.LINK_MTU), "type", "veth",
              "peer", "name", "eth0", "netns", str(self.init_pid))  # fmt: skip
        _host("ip", "addr", "add", f"{a.host_ip}/{a.prefix}", "dev", a.host_link)
        _host("ip", "link", "set", a.host_link, "up")
