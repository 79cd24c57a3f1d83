"""The node's addresses and configuration files, as pure builders (no I/O).

One node per cluster, in network, mount and PID namespaces of its own (see
node.py). The only addresses it shares with the host are the two ends of one
veth link from a benchmarking range that nothing on this machine routes
(198.18.0.0/15, RFC 2544): the host end is where the apiserver, the test
servers and the image pushes listen; the node end is the node's InternalIP.
Pod subnet, Service CIDR and the DNS Service IP exist only inside the node's
network namespace, so two clusters on one machine use the same ones without
meeting. Pods reach nothing but the node, each other and the host end of the
link: the node has no default route.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
POD_SUBNET = "10.244.0.0/24"
LINK_NETWORK = ipaddress.ip_network("198.18.0.0/15")
LINK_MTU = 1500
POD_MTU = 1400
APISERVER_PORT = 6443
KUBELET_PORT = 10250
REGISTRY_PORT = 5000
# Image references pulled by the node's containerd: its registry listens on
# port 5000 of the node's own loopback, so every cluster uses the same names.
REGISTRY_HOST = f"localhost:{REGISTRY_PORT}"
MAX_SLOTS = 250
CNI_NETWORK = "devskyy"
BRIDGE = "cni0"
# The kubelet sets these host-wide sysctls unless they already have these
# values; node.py shows it these values through read-only files in the node's
# mount namespace, so the host's kernel settings stay untouched.
KUBELET_KERNEL_TUNABLES = {
    "vm/overcommit_memory": 1,
    "vm/panic_on_oom": 0,
    "kernel/panic": 10,
    "kernel/panic_on_oops": 1,
    "kernel/keys/root_maxkeys": 1000000,
    "kernel/keys/root_maxbytes": 25000000,
}


@dataclass(frozen=True)
class NodeAddresses:
    """The link of node slot `slot` (1..MAX_SLOTS): host end .1, node end .2."""

    slot: int

    def __post_init__(self) -> None:
        if not 1 <= self.slot <= MAX_SLOTS:
            raise ValueError(f"slot must be within 1..{MAX_SLOTS}, got {self.slot}")

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        base = int(LINK_NETWORK.network_address) + (self.slot << 8)
        return ipaddress.IPv4Network((base, 24))

    @property
    def host_ip(self) -> str:
        return str(self.subnet.network_address + 1)

    @property
    def node_ip(self) -> str:
        return str(self.subnet.network_address + 2)

    @property
    def prefix(self) -> int:
        return self.subnet.prefixlen

    @property
    def host_link(self) -> str:
        """Name of the host end of the veth (interface names: at most 15 bytes)."""
        return f"devskyy{self.slot}"

    @property
    def registry(self) -> str:
        """The node's registry as the host reaches it (plain HTTP)."""
        return f"{self.node_ip}:{REGISTRY_PORT}"

    @property
    def cgroup_root(self) -> str:
        """The kubelet's cgroup root: its kubepods tree never meets another node's."""
        return f"/devskyy-node-{self.slot}"


@dataclass(frozen=True)
class NodePaths:
    """Where the node's files are on the host (under the cluster's work dir)."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def containerd_config(self) -> Path:
        return self.config / "containerd.toml"

    @property
    def registry_hosts(self) -> Path:
        return self.config / "certs.d"

    @property
    def cni_conf_dir(self) -> Path:
        return self.config / "net.d"

    @property
    def kubelet_config(self) -> Path:
        return self.config / "kubelet.yaml"

    @property
    def kube_proxy_config(self) -> Path:
        return self.config / "kube-proxy.yaml"

    @property
    def registry_config(self) -> Path:
        return self.config / "registry.yaml"

    @property
    def corefile(self) -> Path:
        return self.config / "Corefile"

    @property
    def resolv_conf(self) -> Path:
        return self.config / "resolv.conf"

    @property
    def tunables(self) -> Path:
        return self.config / "sysctl"

    @property
    def spec(self) -> Path:
        """What node_init reads: the NodeSpec as JSON."""
        return self.config / "node.json"

    def state(self, name: str) -> Path:
        """A directory bind-mounted over a standard path inside the node."""
        return self.root / "state" / name


# Standard paths inside the node's mount namespace, each a bind mount of a
# directory under NodePaths.state(): the kubelet hard-codes /var/log/containers
# and /var/lib/kubelet/device-plugins, containerd 1.6 parts of /run/containerd,
# and the CNI library /var/lib/cni; nothing of theirs lands on the host's paths.
NODE_BIND_MOUNTS = {
    "run": "/run",
    "log": "/var/log",
    "kubelet": "/var/lib/kubelet",
    "containerd": "/var/lib/containerd",
    "cni": "/var/lib/cni",
}
CONTAINERD_SOCKET = "/run/containerd/containerd.sock"


def containerd_config(paths: NodePaths, sandbox_image: str) -> str:
    """containerd 1.6 (config version 2) with the CRI plugin for the kubelet."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = "{CONTAINERD_SOCKET}"

[plugins."io.containerd.internal.v1.opt"]
  path = "/var/lib/containerd/opt"

[{cri}]
  sandbox_image = "{sandbox_image}"
  # This VM has no CAP_SYS_RESOURCE: runc may not give a container a lower
  # oom_score_adj than containerd's own (every sandbox failed without this).
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  tolerate_missing_hugetlb_controller = true

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  BinaryName = "/usr/sbin/runc"
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{paths.cni_conf_dir}"
  max_conf_num = 1

[{cri}.registry]
  config_path = "{paths.registry_hosts}"
"""


def registry_hosts_toml(host: str = REGISTRY_HOST) -> str:
    """containerd's hosts.toml for the node's registry: plain HTTP.

    `localhost:5000` is how our images are named; `<node IP>:5000` is the same
    registry as the host reaches it (skaffold pushes and names images so).
    """
    return f"""server = "http://{host}"

[host."http://{host}"]
  capabilities = ["pull", "resolve"]
"""


def cni_conflist(ipam_dir: str = "/var/lib/cni/networks") -> dict[str, Any]:
    """bridge + host-local + portmap + firewall, MTU 1400.

    The firewall plugin accepts the pods' traffic in FORWARD whatever the
    chain's policy; ipMasq hides pod addresses behind the node's.
    """
    return {
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "mtu": POD_MTU,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": ipam_dir,
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "firewall"},
        ],
    }


def kubelet_config(addresses: NodeAddresses, pki_dir: Path, paths: NodePaths) -> dict[str, Any]:
    """KubeletConfiguration: x509 + webhook auth, cgroupfs under the node's own root."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": addresses.node_ip,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "tlsCertFile": str(pki_dir / "kubelet.crt"),
        "tlsPrivateKeyFile": str(pki_dir / "kubelet.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki_dir / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{CONTAINERD_SOCKET}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": addresses.cgroup_root,
        "cgroupsPerQOS": True,
        "enforceNodeAllocatable": ["pods"],
        # This machine kind runs cgroup v1 (hybrid); kubelet 1.35 refuses it by default.
        "failCgroupV1": False,
        "failSwapOn": False,
        "clusterDNS": [DNS_SERVICE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(paths.resolv_conf),
        "hairpinMode": "none",
        "serializeImagePulls": False,
        "registerNode": True,
        "maxPods": 110,
        "nodeStatusUpdateFrequency": "4s",
        "nodeStatusReportFrequency": "20s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "20s",
        "imageMinimumGCAge": "24h",
        "imageGCHighThresholdPercent": 95,
        "imageGCLowThresholdPercent": 90,
        "evictionHard": {"memory.available": "200Mi", "nodefs.available": "5%",
                         "imagefs.available": "5%"},
        "evictionPressureTransitionPeriod": "10s",
        # The eviction manager (every 10 s) enforces emptyDir sizeLimit and pod and
        # container ephemeral-storage limits from volume usage the kubelet measures
        # every volumeStatsAggPeriod (default 1 min): 5 s bounds an overrun within
        # seconds, for a few `du` scans of a handful of test pods.
        "volumeStatsAggPeriod": "5s",
        "shutdownGracePeriod": "0s",
        "localStorageCapacityIsolation": True,
        "containerLogMaxSize": "10Mi",
        "containerLogMaxFiles": 2,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": True,
        "oomScoreAdj": 0,
    }  # fmt: skip


def kube_proxy_config(addresses: NodeAddresses, kubeconfig: Path, node_name: str) -> dict[str, Any]:
    """iptables mode; conntrack sysctls left alone (nf_conntrack_max is host-wide)."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": node_name,
        "mode": "iptables",
        "clusterCIDR": POD_SUBNET,
        "bindAddress": addresses.node_ip,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "nodePortAddresses": [f"{addresses.node_ip}/32"],
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"masqueradeAll": False, "syncPeriod": "30s", "minSyncPeriod": "0s"},
    }


def corefile(kubeconfig: Path) -> str:
    """Cluster DNS for Service and pod names; nothing is forwarded off the machine."""
    return f""".:53 {{
    errors
    health 127.0.0.1:8080
    ready 127.0.0.1:8181
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
    loadbalance
}}
"""


def registry_config(storage: Path) -> dict[str, Any]:
    """CNCF distribution: filesystem storage shared by every node of this machine."""
    return {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": False},
            "maintenance": {"uploadpurging": {"enabled": False}},
            # Several registry processes share the directory: no in-memory
            # descriptor cache that could go stale when another one pushes.
            "cache": {"blobdescriptor": ""},
        },
        "http": {"addr": f"0.0.0.0:{REGISTRY_PORT}", "headers": {}},
    }


def resolv_conf() -> str:
    """The node's resolver: cluster DNS only (pods with dnsPolicy Default get this)."""
    return f"nameserver {DNS_SERVICE_IP}\nsearch {CLUSTER_DOMAIN}\noptions ndots:1\n"


def dns_service(node_ip: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The kube-dns Service and its EndpointSlice: CoreDNS runs on the node itself.

    A Service without selector, so the slice (managed by us) points at the
    node's address, where CoreDNS listens; pods see the usual nameserver VIP.
    """
    ports = [
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
    ]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system",
                     "labels": {"k8s-app": "kube-dns"}},
        "spec": {"clusterIP": DNS_SERVICE_IP, "ports": [dict(p, targetPort=53) for p in ports]},
    }  # fmt: skip
    endpoints = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kube-dns-node",
            "namespace": "kube-system",
            "labels": {
                "kubernetes.io/service-name": "kube-dns",
                "endpointslice.kubernetes.io/managed-by": "devskyy-devcluster",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [node_ip], "conditions": {"ready": True}}],
        "ports": ports,
    }
    return service, endpoints


def node_rbac(apiserver_client: str, coredns_user: str) -> list[dict[str, Any]]:
    """The apiserver may call the kubelet API; CoreDNS may read what it serves."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "devskyy:apiserver-kubelet"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "system:kubelet-api-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                          "name": apiserver_client}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "devskyy:coredns"},
            "rules": [
                {"apiGroups": [""], "resources": ["services", "namespaces", "pods"],
                 "verbs": ["list", "watch"]},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                 "verbs": ["list", "watch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "devskyy:coredns"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "devskyy:coredns"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                          "name": coredns_user}],
        },
    ]  # fmt: skip


def node_objects(
    apiserver_client: str, coredns_user: str, node_ip: str
) -> list[tuple[str, dict[str, Any]]]:
    """(collection path, object) of everything the node needs in the API."""
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    kinds = {
        "ClusterRole": f"{rbac}/clusterroles",
        "ClusterRoleBinding": f"{rbac}/clusterrolebindings",
    }
    service, endpoints = dns_service(node_ip)
    return [
        *((kinds[doc["kind"]], doc) for doc in node_rbac(apiserver_client, coredns_user)),
        ("/api/v1/namespaces/kube-system/services", service),
        ("/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices", endpoints),
    ]


def to_json(doc: dict[str, Any]) -> str:
    """YAML 1.2 is a superset of JSON: every config above is written as JSON."""
    return json.dumps(doc, indent=2) + "\n"
