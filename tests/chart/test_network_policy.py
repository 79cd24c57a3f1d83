"""NetworkPolicies: default deny, task egress only to public HTTPS, Redis only from control pods."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.conftest import RenderFn

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PRIVATE = {
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
}
TASK_SELECTOR = {"matchExpressions": [{"key": "devskyy.io/task-id", "operator": "Exists"}]}


def _policies(render: RenderFn, scenario: str) -> dict[str, dict[str, Any]]:
    return {
        p["metadata"]["name"].removeprefix("devskyy-devskyy-task-operator-"): p
        for p in render(scenario).kind("NetworkPolicy")
    }


def test_default_deny_covers_release_and_task_pods(render: RenderFn) -> None:
    policies = _policies(render, "defaults")
    release = policies["default-deny"]["spec"]
    assert release["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in release
    assert "egress" not in release
    assert release["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "devskyy"
    tasks = policies["tasks-default-deny"]["spec"]
    assert tasks["podSelector"] == TASK_SELECTOR
    assert tasks["policyTypes"] == ["Ingress", "Egress"]
    assert "egress" not in tasks


def test_task_egress_is_dns_and_public_https_only(render: RenderFn) -> None:
    spec = _policies(render, "defaults")["tasks-egress"]["spec"]
    assert spec["podSelector"] == TASK_SELECTOR
    assert spec["policyTypes"] == ["Egress"]
    dns, https = spec["egress"]
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    assert dns["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kube-system"
    }
    assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert https["ports"] == [{"protocol": "TCP", "port": 443}]
    (block,) = https["to"]
    assert block["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert set(block["ipBlock"]["except"]) == PRIVATE


def test_task_extra_egress_is_appended(render: RenderFn) -> None:
    spec = _policies(render, "internal-redis")["tasks-egress"]["spec"]
    assert len(spec["egress"]) == 3
    assert spec["egress"][2]["ports"] == [{"protocol": "TCP", "port": 587}]


def _components(peer: dict[str, Any]) -> set[str]:
    (instance, component) = peer["podSelector"]["matchExpressions"]
    assert instance["key"] == "app.kubernetes.io/instance"
    assert instance["values"] == ["devskyy"]
    return set(component["values"])


def test_redis_is_reached_only_from_control_pods(render: RenderFn) -> None:
    policies = _policies(render, "internal-redis")
    (rule,) = policies["redis"]["spec"]["ingress"]
    assert _components(rule["from"][0]) == {"operator", "bridge", "api"}
    assert rule["ports"] == [{"protocol": "TCP", "port": 6379}]
    clients = policies["redis-clients"]["spec"]
    assert _components(clients) == {"operator", "bridge", "api"}
    # Task pods match no allow rule towards Redis: their egress is public 443 only.
    assert "redis-clients" in policies
    assert policies["tasks-egress"]["spec"]["egress"][1]["ports"][0]["port"] == 443


def test_control_plane_egress_and_metrics_ingress(render: RenderFn) -> None:
    policies = _policies(render, "defaults")
    for component in ("operator", "bridge"):
        spec = policies[component]["spec"]
        apiserver = spec["egress"][1]
        assert {p["port"] for p in apiserver["ports"]} == {443, 6443}
        (ingress,) = spec["ingress"]
        assert ingress["ports"] == [{"protocol": "TCP", "port": 9090}]
        assert ingress["from"][0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "monitoring"
        }
    api = policies["api"]["spec"]
    assert len(api["egress"]) == 1  # DNS; Redis via redis-clients; no API server
    (ingress,) = api["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": 8000}]
    assert ingress["from"][0] == {"podSelector": {}}


def test_policies_can_be_disabled(render: RenderFn) -> None:
    assert not render("no-crds").kind("NetworkPolicy")
