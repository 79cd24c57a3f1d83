"""Every DEVSKYY_* variable the chart renders is a Settings field, and parses to the values."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest
import yaml

from devskyy_agents.models import TaskType
from devskyy_operator.settings import CostSettings, ResourceDefaults, Settings, SlaObjective
from tests.chart.conftest import CHART, ROOT, SCENARIOS, Render, RenderFn

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

RESOURCE_FIELDS = {
    "CPU_REQUEST": ("requests", "cpu"),
    "MEMORY_REQUEST": ("requests", "memory"),
    "EPHEMERAL_REQUEST": ("requests", "ephemeral-storage"),
    "CPU_LIMIT": ("limits", "cpu"),
    "MEMORY_LIMIT": ("limits", "memory"),
    "EPHEMERAL_LIMIT": ("limits", "ephemeral-storage"),
    "CPU_MAX": ("max", "cpu"),
    "MEMORY_MAX": ("max", "memory"),
    "EPHEMERAL_MAX": ("max", "ephemeral-storage"),
}


def control_env(r: Render, suffix: str) -> dict[str, Any]:
    """Environment of a control container: envFrom ConfigMaps, then env (values or refs)."""
    (c,) = r.one("Deployment", suffix)["spec"]["template"]["spec"]["containers"]
    env: dict[str, Any] = {}
    for source in c.get("envFrom", []):
        cm = r.one("ConfigMap", source["configMapRef"]["name"])
        env |= cm["data"]
    for item in c.get("env", []):
        env[item["name"]] = item.get("value", item.get("valueFrom"))
    return env


def test_every_rendered_variable_is_a_settings_field(render: RenderFn, scenario: str) -> None:
    r = render(scenario)
    names = {
        n
        for suffix in ("-operator", "-bridge", "-api")
        for n in (control_env(r, suffix) if r.kind("Deployment") else {})
        if n.startswith("DEVSKYY_")
    }
    assert len(names) > 40
    for name in names:
        field, *nested = name.removeprefix("DEVSKYY_").lower().split("__")
        assert field in Settings.model_fields, name
        if field == "resources":
            _task_type, attr = nested
            assert attr in ResourceDefaults.model_fields, name
        if field == "sla":
            _task_type, attr = nested
            assert attr in SlaObjective.model_fields, name
        if field == "cost":
            assert nested[0] in CostSettings.model_fields, name
        elif nested:
            assert nested[0] in {t.value for t in TaskType}, name


def _settings_from(env: dict[str, Any]) -> dict[str, Any]:
    """Build Settings in a fresh interpreter whose environment is exactly `env`."""
    literal = {k: v for k, v in env.items() if isinstance(v, str)}
    literal["REDIS_URL"] = "redis://:pw@redis:6379/0"  # by reference in the pod
    code = (
        "import json; from devskyy_operator.settings import Settings; "
        "print(Settings().model_dump_json())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=literal,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    parsed: dict[str, Any] = json.loads(out.stdout)
    return parsed


@pytest.mark.parametrize("scenario_name", ["defaults", "small-cluster"])
def test_rendered_environment_parses_to_the_values(render: RenderFn, scenario_name: str) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    override = SCENARIOS[scenario_name]
    if override is not None:
        for kind, spec in yaml.safe_load(override.read_text())["taskTypes"].items():
            values["taskTypes"][kind] |= spec  # Helm merges maps: the rest keeps its defaults
    settings = _settings_from(control_env(render(scenario_name), "-operator"))
    for task_type in TaskType:
        spec = values["taskTypes"][task_type.value]
        assert settings["concurrency"][task_type.value] == spec["concurrency"]
        assert settings["images"][task_type.value] == f"{spec['image']['repository']}:0.1.0"
        for attr, (kind, key) in RESOURCE_FIELDS.items():
            assert settings["resources"][task_type.value][attr.lower()] == str(
                spec["resources"][kind][key]
            )
        objective = settings["sla"][task_type.value]
        assert objective["completion_seconds"] == spec["sla"]["completionSeconds"]
        assert objective["queue_wait_seconds"] == spec["sla"]["queueWaitSeconds"]
        assert objective["target"] == spec["sla"]["target"]
    assert settings["namespace"] == "devskyy"
    assert settings["task_secret_name"] == "devskyy-task-secrets"
    assert settings["task_config_map"] == "devskyy-devskyy-task-operator-task-config"
    assert settings["task_service_account"] == "devskyy-devskyy-task-operator-task"
    assert settings["api_host"] == "0.0.0.0"
    assert (settings["health_port"], settings["metrics_port"], settings["api_port"]) == (
        8080,
        9090,
        8000,
    )
    assert settings["task_record_ttl_seconds"] == 2592000  # no float formatting on the way
    assert settings["schedule_horizon_seconds"] == values["settings"]["scheduleHorizonSeconds"]
    cost, priced = settings["cost"], values["settings"]["cost"]
    assert (cost["currency"], cost["cpu_core_hour"], cost["memory_gib_hour"]) == (
        priced["currency"], priced["cpuCoreHour"], priced["memoryGibHour"],
    )  # fmt: skip
    assert cost["models"] == priced["models"]
    assert cost["credits"] == priced["credits"]
    assert cost["index_retention_seconds"] == priced["indexRetentionSeconds"]


def test_the_ml_pool_example_reaches_the_settings(render: RenderFn) -> None:
    example = yaml.safe_load(SCENARIOS["ml-pool"].read_text())["taskTypes"]  # type: ignore[union-attr]
    settings = _settings_from(control_env(render("ml-pool"), "-operator"))
    for task_type in TaskType:
        chosen = settings["scheduling"][task_type.value]
        given = example.get(task_type.value, {"nodeSelector": {}, "tolerations": []})
        assert chosen["node_selector"] == given["nodeSelector"]
        parsed = Settings.model_validate({"scheduling": {task_type.value: chosen}})
        pod = parsed.scheduling_for(task_type).pod_fields()
        assert pod.get("tolerations", []) == given["tolerations"]
    assert settings["scheduling"]["ml_training"]["node_selector"] == {"devskyy.io/pool": "ml"}


def test_the_result_cache_example_reaches_the_settings(render: RenderFn) -> None:
    example = yaml.safe_load(SCENARIOS["result-cache"].read_text())["taskTypes"]  # type: ignore[union-attr]
    settings = _settings_from(control_env(render("result-cache"), "-operator"))
    cached = settings["result_cache"]
    expected = {"enabled": True, "ttl_seconds": 600, "max_ttl_seconds": 86400,
                "allow_side_effects": False}  # fmt: skip
    assert cached["diagnostic"] == expected
    given = example["ml_prediction"]["resultCache"]
    assert (cached["ml_prediction"]["enabled"], cached["ml_prediction"]["ttl_seconds"]) == (
        given["enabled"], given["ttlSeconds"],
    )  # fmt: skip
    assert not cached["marketing_campaign"]["enabled"]
    assert set(cached) == {t.value for t in TaskType}
    default_env = control_env(render("defaults"), "-operator")
    assert not [name for name in default_env if name.startswith("DEVSKYY_RESULT_CACHE__")]


def test_chart_defaults_are_the_settings_defaults() -> None:
    """The committed CRD is generated from the settings' built-in maxima, and the
    chart renders it unchanged only when its default values say the same."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    built_in = Settings.model_fields["resources"].get_default(call_default_factory=True)
    for task_type in TaskType:
        defaults = built_in.get(task_type.value, ResourceDefaults())
        spec = values["taskTypes"][task_type.value]["resources"]
        for attr, (kind, key) in RESOURCE_FIELDS.items():
            assert str(spec[kind][key]) == getattr(defaults, attr.lower()), (task_type, attr)
    objectives = Settings.model_fields["sla"].get_default(call_default_factory=True)
    for task_type in TaskType:
        given = values["taskTypes"][task_type.value]["sla"]
        assert (
            SlaObjective(
                completion_seconds=given["completionSeconds"],
                queue_wait_seconds=given["queueWaitSeconds"],
                target=given["target"],
            )
            == objectives[task_type.value]
        ), task_type
    scheduling = Settings.model_fields["scheduling"].get_default(call_default_factory=True)
    for task_type in TaskType:
        pod = scheduling[task_type.value].pod_fields()
        spec = values["taskTypes"][task_type.value]
        assert spec["nodeSelector"] == pod.get("nodeSelector", {})
        assert spec["tolerations"] == pod.get("tolerations", [])
    horizon = Settings.model_fields["schedule_horizon_seconds"].default
    assert values["settings"]["scheduleHorizonSeconds"] == horizon
    cost, priced = CostSettings(), values["settings"]["cost"]
    assert (cost.currency, cost.index_retention_seconds) == (
        priced["currency"], priced["indexRetentionSeconds"],
    )  # fmt: skip
    assert (cost.cpu_core_hour, cost.memory_gib_hour) == (
        Decimal(priced["cpuCoreHour"]), Decimal(priced["memoryGibHour"]),
    )  # fmt: skip
    assert {name: price.model_dump() for name, price in cost.models.items()} == {
        name: {k: Decimal(v) for k, v in price.items()} for name, price in priced["models"].items()
    }
    assert cost.credits == {name: Decimal(v) for name, v in priced["credits"].items()}


def test_claims_and_watch_namespace_are_rendered(render: RenderFn) -> None:
    r = render(
        set_values=[
            "tasks.datasetsClaim=datasets",
            "tasks.modelsClaim=models",
            "tasks.artifactsClaim=artifacts",
            "operator.watchNamespace=work",
        ]
    )
    settings = _settings_from(control_env(r, "-operator"))
    assert (settings["datasets_claim"], settings["models_claim"], settings["artifacts_claim"]) == (
        "datasets",
        "models",
        "artifacts",
    )
    assert settings["namespace"] == "work"
    assert r.one("ConfigMap", "-task-config")["metadata"]["namespace"] == "work"


def test_task_config_map_holds_only_the_documented_keys(render: RenderFn) -> None:
    data = render("defaults").one("ConfigMap", "-task-config")["data"]
    assert set(data) == {
        "OPENAI_BASE_URL",
        "ANTHROPIC_BASE_URL",
        "GOOGLE_AI_BASE_URL",
        "MARKETING_PROVIDER_ORDER",
        "TRIPO_API_BASE",
        "FASHN_API_BASE",
        "WORDPRESS_URL",
        "WORDPRESS_USER",
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_FROM",
        "SOCIAL_WEBHOOKS",
    }
    assert all(isinstance(v, str) for v in data.values())


def test_ports_are_per_component(render: RenderFn) -> None:
    """Pods that share a host network (the local cluster) need distinct ports."""
    r = render(
        set_values=[
            "bridge.ports.health=8082",
            "bridge.ports.metrics=9092",
            "api.containerPort=8001",
        ]
    )
    bridge = _settings_from(control_env(r, "-bridge"))
    assert (bridge["health_port"], bridge["metrics_port"]) == (8082, 9092)
    operator = _settings_from(control_env(r, "-operator"))
    assert (operator["health_port"], operator["metrics_port"]) == (8080, 9090)
    assert _settings_from(control_env(r, "-api"))["api_port"] == 8001
    policies = {p["metadata"]["name"]: p["spec"] for p in r.kind("NetworkPolicy")}
    bridge_policy = policies["devskyy-devskyy-task-operator-bridge"]
    assert bridge_policy["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9092}]
    api_policy = policies["devskyy-devskyy-task-operator-api"]
    assert api_policy["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8001}]


# What the chart sets on purpose to other values than a bare process's defaults.
CHART_CHOICES = {
    "namespace",  # the release's (or watchNamespace)
    "api_host",  # every pod address, not loopback
    "redis_url",  # from the Secret, by reference
    "task_secret_name",
    "task_config_map",
    "task_service_account",
}


def test_the_chart_defaults_are_the_settings_defaults(render: RenderFn) -> None:
    """values.yaml has to restate the defaults (Helm renders from values), so they
    are checked against the one declaration in Settings: no drift."""
    declared = json.loads(Settings.model_construct().model_dump_json())
    r = render("defaults")
    for suffix in ("-operator", "-bridge", "-api"):
        rendered = _settings_from(control_env(r, suffix))
        drifted = {name for name in declared if rendered[name] != declared[name]}
        assert drifted <= CHART_CHOICES, {n: (rendered[n], declared[n]) for n in drifted}


def test_seed_variables_reach_the_settings(render: RenderFn) -> None:
    """settings.taskTimeout / workerThreads render as the seed's TASK_TIMEOUT and
    WORKER_THREADS, which Settings reads."""
    r = render(set_values=["settings.taskTimeout=120", "settings.workerThreads=2"])
    env = control_env(r, "-operator")
    assert (env["TASK_TIMEOUT"], env["WORKER_THREADS"]) == ("120", "2")
    parsed = _settings_from(env)
    assert (parsed["task_timeout_seconds"], parsed["task_threads"]) == (120, 2)


def test_a_regions_bridge_gets_its_region(render: RenderFn) -> None:
    """bridge.region reaches the bridge's Settings only (README "Multi-region")."""
    r = render(set_values=["bridge.region=eu-west"])
    assert control_env(r, "-bridge")["DEVSKYY_REGION"] == "eu-west"
    assert "DEVSKYY_REGION" not in control_env(r, "-operator")
    assert _settings_from(control_env(r, "-bridge"))["region"] == "eu-west"
    assert "DEVSKYY_REGION" not in control_env(render("defaults"), "-bridge")


def test_tier_values_reach_the_settings(render: RenderFn) -> None:
    """tiers.* render as DEVSKYY_TIERS / USER_TIERS / DEFAULT_TIER; a given tier is
    laid over the built-in one (the example), a new one is added."""
    example = render("tiers")
    added = render(set_values=["tiers.default=pro", "tiers.definitions.gold.priorityMin=900",
                               "tiers.definitions.gold.priorityMax=1000"])  # fmt: skip
    for suffix in ("-operator", "-api"):
        settings = _settings_from(control_env(example, suffix))
        assert settings["default_tier"] == "free"
        assert settings["user_tiers"] == {"alice": "enterprise", "bob": "pro"}
        free = settings["tiers"]["free"]
        assert (free["priority_min"], free["priority_max"]) == (0, 299)
        assert (free["rate_limit_per_minute"], free["max_queued"]) == (60, 100)
        assert free["concurrency_share"] == 0.5
        assert settings["tiers"]["enterprise"]["max_queued"] == 100000
        assert set(settings["tiers"]) == {"free", "pro", "enterprise"}
        settings = _settings_from(control_env(added, suffix))
        assert settings["default_tier"] == "pro"
        gold = settings["tiers"]["gold"]
        assert (gold["priority_min"], gold["priority_max"]) == (900, 1000)
        assert set(settings["tiers"]) == {"free", "pro", "enterprise", "gold"}
