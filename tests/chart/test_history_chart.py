"""The task history in the chart: off by default; on, a writer Deployment, a
migration hook Job and the API's DATABASE_URL, every URL from a Secret by
reference; PostgreSQL reached only by its clients; in-chart PostgreSQL only as
the development option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import RenderFn, helm_template

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PREFIX = "devskyy-devskyy-task-operator-"


def _env(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in spec["containers"][0].get("env", [])}


def test_off_by_default(render: RenderFn) -> None:
    r = render("defaults")
    names = {d["metadata"]["name"] for d in r.docs}
    assert not {f"{PREFIX}history", f"{PREFIX}migrate", f"{PREFIX}postgres"} & names
    api = r.one("Deployment", "-api")["spec"]["template"]["spec"]
    assert "DATABASE_URL" not in _env(api)


def test_writer_migrations_and_api_get_the_url_by_reference(render: RenderFn) -> None:
    r = render("history")
    ref = {"secretKeyRef": {"name": "devskyy-database", "key": "database-url"}}
    writer = r.one("Deployment", "-history")["spec"]["template"]["spec"]
    env = _env(writer)
    assert writer["containers"][0]["command"] == ["devskyy-history", "run"]
    assert env["DATABASE_URL"]["valueFrom"] == ref
    assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"] == "devskyy-redis"
    assert env["DEVSKYY_HISTORY_RETENTION_DAYS"]["value"] == "90"
    assert env["DEVSKYY_HISTORY_CONSUMER"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert writer["automountServiceAccountToken"] is False
    assert (
        _env(r.one("Deployment", "-api")["spec"]["template"]["spec"])["DATABASE_URL"]["valueFrom"]
        == ref
    )
    job = r.one("Job", "-migrate")
    hooks = job["metadata"]["annotations"]
    assert hooks["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "hook-succeeded" in hooks["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["devskyy-history", "migrate"]
    # A pre-install hook runs before the release's ConfigMaps and ServiceAccounts exist.
    assert "envFrom" not in container
    assert "serviceAccountName" not in pod
    assert pod["automountServiceAccountToken"] is False
    assert _env(pod)["DATABASE_URL"]["valueFrom"] == ref
    assert not r.kind("Secret") or all(
        "postgres" not in s["metadata"]["name"] for s in r.kind("Secret")
    )


def test_postgres_is_reached_only_by_its_clients(render: RenderFn) -> None:
    policies = {
        p["metadata"]["name"].removeprefix(PREFIX): p
        for p in render("history").kind("NetworkPolicy")
    }
    clients = policies["database-clients"]["spec"]
    components = {e["key"]: e["values"] for e in clients["podSelector"]["matchExpressions"]}
    assert set(components["app.kubernetes.io/component"]) == {"history", "migrate", "api"}
    (egress,) = clients["egress"]
    assert egress["ports"] == [{"protocol": "TCP", "port": 5432}]
    assert egress["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]
    redis = {
        e["key"]: e["values"]
        for e in policies["redis-clients"]["spec"]["podSelector"]["matchExpressions"]
    }
    assert {"history", "migrate"} <= set(redis["app.kubernetes.io/component"])
    writer = policies["history"]["spec"]
    assert writer["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9090}]
    assert len(writer["egress"]) == 1  # DNS; the stores via the client policies


def test_development_postgres(render: RenderFn) -> None:
    r = render("internal-database")
    postgres = r.one("Deployment", "-postgres")["spec"]["template"]["spec"]
    assert postgres["automountServiceAccountToken"] is False
    assert postgres["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert _env(postgres)["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == (
        f"{PREFIX}postgres"
    )
    url = _env(r.one("Deployment", "-history")["spec"]["template"]["spec"])["DATABASE_URL"]
    assert (
        url["value"] == f"postgresql://devskyy:$(POSTGRES_PASSWORD)@{PREFIX}postgres:5432/devskyy"
    )
    # The database is a normal resource: the migrations wait until after install.
    assert r.one("Job", "-migrate")["metadata"]["annotations"]["helm.sh/hook"] == (
        "post-install,pre-upgrade"
    )
    assert r.one("Service", "-postgres")["spec"]["ports"][0]["port"] == 5432


@pytest.mark.parametrize(
    "setting",
    ["database.bogus=1", "history.retentionDays=-1", "database.internal.enabled=maybe"],
)
def test_schema_refuses_bad_values(helm: Path, setting: str) -> None:
    result = helm_template(helm, set_values=["database.enabled=true", setting])
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
