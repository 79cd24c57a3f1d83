"""Pod Security "restricted" everywhere, least-privilege RBAC, no Kubernetes access for the API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.conftest import RenderFn

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def test_every_pod_is_restricted(render: RenderFn, scenario: str) -> None:
    pods = render(scenario).pod_specs()
    assert pods
    for name, spec in pods:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] == 10001, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert not spec.get("hostNetwork")
        assert not spec.get("hostPID")
        assert not spec.get("hostIPC")
        for c in _containers(spec):
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, (name, c["name"])
            assert sc["runAsUser"] == 10001, (name, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["capabilities"] == {"drop": ["ALL"]}, (name, c["name"])
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, (name, c["name"])
            assert {"cpu", "memory"} <= set(c["resources"]["limits"]), (name, c["name"])
            assert "/tmp" in {m["mountPath"] for m in c["volumeMounts"]}, (name, c["name"])
        tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")
        assert "emptyDir" in tmp


def test_rbac_has_no_wildcards_and_reads_only_the_task_secret(
    render: RenderFn, scenario: str
) -> None:
    r = render(scenario)
    roles = r.kind("Role") + r.kind("ClusterRole")
    assert roles
    for role in roles:
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], (role["metadata"]["name"], rule)
            if "secrets" in rule["resources"]:
                # Only the operator, only `get`, only the task Secret by name (log masking).
                assert role["metadata"]["name"].endswith("-operator"), rule
                assert rule["resources"] == ["secrets"], rule
                assert rule["verbs"] == ["get"], rule
                assert rule["resourceNames"] == ["devskyy-task-secrets"], rule
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])


def _rules(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for res in rule["resources"]:
                out.setdefault((group, res), set()).update(rule["verbs"])
    return out


def test_operator_and_bridge_rules_are_the_contract(render: RenderFn) -> None:
    r = render("defaults")
    operator = _rules(r.one("Role", "-operator"))
    # create/delete: the runs of schedules (controller/schedules.py), a workflow's step
    # tasks and cancelling its running ones (controller/workflows.py).
    assert operator[("devskyy.io", "devskyytasks")] == {
        "get", "list", "watch", "patch", "update", "create", "delete",
    }  # fmt: skip
    assert operator[("devskyy.io", "devskyyschedules")] == {"get", "list", "watch"}
    assert operator[("devskyy.io", "devskyyschedules/status")] == {"patch", "update"}
    assert operator[("devskyy.io", "devskyyworkflows")] == {"get", "list", "watch"}
    assert operator[("devskyy.io", "devskyyworkflows/status")] == {"patch", "update"}
    assert operator[("devskyy.io", "devskyytasks/status")] == {"patch", "update"}
    assert operator[("devskyy.io", "devskyytasks/finalizers")] == {"update"}
    assert operator[("batch", "jobs")] == {"get", "list", "watch", "create", "delete", "patch"}
    assert operator[("", "pods")] == {"get", "list", "watch"}
    assert operator[("", "pods/log")] == {"get"}
    assert operator[("", "events")] == operator[("events.k8s.io", "events")] == {"create", "patch"}
    assert operator[("coordination.k8s.io", "leases")] == {"create", "get", "update"}
    named = [rule for rule in r.one("Role", "-operator")["rules"] if rule.get("resourceNames")]
    assert [(n["resources"], n["resourceNames"], set(n["verbs"])) for n in named] == [
        (["secrets"], ["devskyy-task-secrets"], {"get"}),
        (["leases"], ["devskyy-operator"], {"get", "update"}),
    ]
    bridge = _rules(r.one("Role", "-bridge"))
    assert bridge == {
        ("devskyy.io", "devskyytasks"): {"create", "get", "list", "watch", "delete"},
        ("devskyy.io", "devskyyschedules"): {"create", "get", "list", "patch", "delete"},
        ("devskyy.io", "devskyyworkflows"): {"create", "patch"},  # API submissions, cancels
    }


def test_cluster_wide_rbac_uses_cluster_roles(render: RenderFn) -> None:
    r = render("cluster-wide")
    assert not r.kind("Role")
    assert not r.kind("RoleBinding")
    assert len(r.kind("ClusterRole")) == len(r.kind("ClusterRoleBinding")) == 2


def test_bindings_grant_only_to_operator_and_bridge(render: RenderFn, scenario: str) -> None:
    r = render(scenario)
    for binding in r.kind("RoleBinding") + r.kind("ClusterRoleBinding"):
        (subject,) = binding["subjects"]
        assert subject["name"].endswith(("-operator", "-bridge")), subject
        assert binding["roleRef"]["name"] == subject["name"]


def test_only_operator_and_bridge_mount_a_token(render: RenderFn, scenario: str) -> None:
    r = render(scenario)
    for name, spec in r.pod_specs():
        wants_token = name.endswith(("-operator", "-bridge"))
        assert spec["automountServiceAccountToken"] is wants_token, name
    accounts = {sa["metadata"]["name"]: sa for sa in r.kind("ServiceAccount")}
    task = accounts["devskyy-devskyy-task-operator-task"]
    assert task["automountServiceAccountToken"] is False
    api = accounts["devskyy-devskyy-task-operator-api"]
    assert api["automountServiceAccountToken"] is False
    bound = {b["subjects"][0]["name"] for b in r.kind("RoleBinding") + r.kind("ClusterRoleBinding")}
    assert not bound & {task["metadata"]["name"], api["metadata"]["name"]}


def test_secrets_arrive_only_by_reference(render: RenderFn, scenario: str) -> None:
    r = render(scenario)
    urls = {"REDIS_URL": "$(REDIS_PASSWORD)", "DATABASE_URL": "$(POSTGRES_PASSWORD)"}
    secret_names = {*urls, "DEVSKYY_API_TOKENS", "REDIS_PASSWORD", "POSTGRES_PASSWORD"}
    for name, spec in r.pod_specs():
        for c in spec["containers"]:
            for env in c.get("env", []):
                if env["name"] in secret_names and env["name"] not in urls:
                    assert "secretKeyRef" in env["valueFrom"], (name, env)
                if env["name"] in urls and "value" in env:
                    # In-chart store: the kubelet expands the password from its Secret.
                    assert urls[env["name"]] in env["value"], (name, env)
                elif env["name"] in urls:
                    assert "secretKeyRef" in env["valueFrom"], (name, env)
    for cm in r.kind("ConfigMap"):
        for key in cm["data"]:
            assert not key.endswith(("_KEY", "_SECRET", "_PASSWORD", "_TOKENS")), (cm, key)


def test_api_gets_its_token_list_and_no_other_secret(render: RenderFn) -> None:
    api = render("defaults").one("Deployment", "-api")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in api["containers"][0]["env"]}
    assert env["DEVSKYY_API_TOKENS"]["valueFrom"]["secretKeyRef"] == {
        "name": "devskyy-api-tokens",
        "key": "api-tokens",
    }
    operator = render("defaults").one("Deployment", "-operator")["spec"]["template"]["spec"]
    assert "DEVSKYY_API_TOKENS" not in {e["name"] for e in operator["containers"][0]["env"]}


def test_probes_and_ports_match_the_components(render: RenderFn) -> None:
    r = render("defaults")
    expected = {
        "-operator": ("devskyy-operator", "/healthz", {8080, 9090}),
        "-bridge": ("devskyy-bridge", "/healthz", {8080, 9090}),
        "-api": ("devskyy-api", "/readyz", {8000}),
    }
    for suffix, (command, ready, ports) in expected.items():
        (c,) = r.one("Deployment", suffix)["spec"]["template"]["spec"]["containers"]
        assert c["command"] == [command]
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["httpGet"]["path"] == ready
        assert {p["containerPort"] for p in c["ports"]} == ports


def test_operator_strategy_follows_replicas(render: RenderFn) -> None:
    single = render("defaults").one("Deployment", "-operator")["spec"]
    assert single["replicas"] == 1
    assert single["strategy"]["type"] == "Recreate"
    ha = render("cluster-wide").one("Deployment", "-operator")["spec"]
    assert ha["replicas"] == 2
    assert ha["strategy"]["type"] == "RollingUpdate"
    # Standbys answer /healthz but not /readyz: readiness must not gate on leading.
    (c,) = ha["template"]["spec"]["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"
