"""The node's pure pieces: pinned versions, addresses, configs, image content tags."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devskyy_devcluster import node_config as cfg
from devskyy_devcluster.binaries import REPO_ROOT, versions
from devskyy_devcluster.images import content_tag, context_files, dockerignore_rules

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

CLUSTER = REPO_ROOT / "hack" / "cluster"


@pytest.mark.parametrize(
    ("key", "module_dir", "module"),
    [
        ("K8S_VERSION", "k8s", "k8s.io/kubernetes"),
        ("ETCD_VERSION", "etcd", "go.etcd.io/etcd/server/v3"),
        ("COREDNS_VERSION", "coredns", "github.com/coredns/coredns"),
        ("DISTRIBUTION_VERSION", "registry", "github.com/distribution/distribution/v3"),
        ("SKAFFOLD_VERSION", "skaffold", "github.com/GoogleContainerTools/skaffold/v2"),
    ],
)
def test_versions_env_pins_what_each_module_requires(
    key: str, module_dir: str, module: str
) -> None:
    go_mod = (CLUSTER / module_dir / "go.mod").read_text()
    required = re.search(rf"^require {re.escape(module)} (\S+)$", go_mod, re.M)
    assert required is not None, f"{module_dir}/go.mod does not require {module}"
    assert required.group(1) == versions()[key]


def test_the_k8s_module_builds_the_node_commands() -> None:
    tools = (CLUSTER / "k8s" / "tools.go").read_text()
    build = (CLUSTER / "build.sh").read_text()
    for command in ("kubelet", "kube-proxy"):
        assert f'"k8s.io/kubernetes/cmd/{command}"' in tools
        assert re.search(rf"for cmd in [^;]*\b{command}\b", build), command
    assert "build/pause" in build
    assert "gcc -Os -Wall -Werror -static" in build


def test_node_slots_get_their_own_link_and_cgroup_root() -> None:
    one, two = cfg.NodeAddresses(1), cfg.NodeAddresses(2)
    assert (one.host_ip, one.node_ip, one.prefix) == ("198.18.1.1", "198.18.1.2", 24)
    assert two.host_ip == "198.18.2.1"
    assert one.subnet.subnet_of(cfg.LINK_NETWORK)
    assert cfg.NodeAddresses(cfg.MAX_SLOTS).subnet.subnet_of(cfg.LINK_NETWORK)
    assert one.cgroup_root != two.cgroup_root
    assert len(cfg.NodeAddresses(cfg.MAX_SLOTS).host_link) <= 15  # IFNAMSIZ - 1
    with pytest.raises(ValueError, match="slot"):
        cfg.NodeAddresses(0)


def test_containerd_config_carries_the_fixes_this_machine_needs(tmp_path: Path) -> None:
    text = cfg.containerd_config(cfg.NodePaths(tmp_path), "localhost:5000/devskyy/pause:3.10.1-x")
    assert "restrict_oom_score_adj = true" in text  # no CAP_SYS_RESOURCE here
    assert 'sandbox_image = "localhost:5000/devskyy/pause:3.10.1-x"' in text
    assert "SystemdCgroup = false" in text
    assert f'config_path = "{tmp_path / "config" / "certs.d"}"' in text


def test_cni_network_is_a_bridge_with_firewall_and_mtu_1400() -> None:
    plugins = cfg.cni_conflist()["plugins"]
    assert [p["type"] for p in plugins] == ["bridge", "portmap", "firewall"]
    bridge = plugins[0]
    assert (bridge["mtu"], bridge["ipMasq"], bridge["isGateway"]) == (1400, True, True)
    assert bridge["ipam"]["type"] == "host-local"
    assert bridge["ipam"]["ranges"] == [[{"subnet": cfg.POD_SUBNET}]]


def test_kubelet_config_keeps_to_its_own_cgroup_root_and_certificates(tmp_path: Path) -> None:
    addresses = cfg.NodeAddresses(3)
    doc = cfg.kubelet_config(addresses, tmp_path / "pki", cfg.NodePaths(tmp_path))
    assert doc["cgroupRoot"] == "/devskyy-node-3"
    assert (doc["cgroupDriver"], doc["failCgroupV1"], doc["failSwapOn"]) == (
        "cgroupfs",
        False,
        False,
    )
    assert doc["authentication"]["anonymous"] == {"enabled": False}
    assert doc["authentication"]["x509"]["clientCAFile"] == str(tmp_path / "pki" / "ca.crt")
    assert doc["authorization"] == {"mode": "Webhook"}
    assert doc["clusterDNS"] == [cfg.DNS_SERVICE_IP]
    assert doc["address"] == addresses.node_ip


def test_dns_service_points_at_the_node() -> None:
    service, endpoints = cfg.dns_service("198.18.4.2")
    assert service["spec"]["clusterIP"] == cfg.DNS_SERVICE_IP
    assert "selector" not in service["spec"]
    assert endpoints["metadata"]["labels"]["kubernetes.io/service-name"] == "kube-dns"
    assert endpoints["endpoints"][0]["addresses"] == ["198.18.4.2"]


def test_build_context_follows_dockerignore_like_the_builder() -> None:
    rules = dockerignore_rules((REPO_ROOT / ".dockerignore").read_text())
    assert rules, "the repository's .dockerignore has rules"
    files = {p.relative_to(REPO_ROOT).as_posix() for p in context_files(REPO_ROOT)}
    assert {"pyproject.toml", "README.md"} <= files
    assert any(f.startswith("operator/devskyy_operator/") for f in files)
    assert any(f.startswith("agents/devskyy_agents/") for f in files)
    tops = {f.split("/")[0] for f in files}
    assert tops == {"pyproject.toml", "README.md", "operator", "agents"}, tops
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


def test_content_tag_changes_with_any_input(tmp_path: Path) -> None:
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("y = 2\n")
    tag = content_tag(["Dockerfile", "base:1"], [a, b], tmp_path)
    assert tag == content_tag(["Dockerfile", "base:1"], [a, b], tmp_path)
    assert re.fullmatch(r"[0-9a-f]{16}", tag)
    assert tag != content_tag(["Dockerfile", "base:2"], [a, b], tmp_path)
    b.write_text("y = 3\n")
    assert tag != content_tag(["Dockerfile", "base:1"], [a, b], tmp_path)
