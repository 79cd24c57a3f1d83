"""Alert rules: well-formed, on exported series, valid and firing as intended (promtool),
and shipped unchanged by the chart's PrometheusRule."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.conftest import CHART, helm_template, parse
from tests.observability.promql import (
    exported_series,
    metric_names,
    recorded_series,
    substitute_grafana,
)
from tests.observability.test_dashboard import dashboard_exprs

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "monitoring" / "alerts.yaml"
CHART_ALERTS = CHART / "files" / "monitoring" / "alerts.yaml"
UNIT_TESTS = Path(__file__).with_name("alerts_test.yaml")
EXPECTED_ALERTS = {
    "DevSkyyQueueBacklogGrowing",
    "DevSkyyNoProgress",
    "DevSkyyBridgeLagHigh",
    "DevSkyyTasksStuckPending",
    "DevSkyyOperatorDown",
    "DevSkyyDeadLetterQueueGrowing",
    "DevSkyyHighFailureRatio",
    "DevSkyyHistoryLagHigh",
    "DevSkyyHistoryEventsDropped",
    "DevSkyySLABudgetBurnFast",
    "DevSkyySLABudgetBurnSlow",
}
# The SLA error ratios per window and the error budget (burn-rate alerts, dashboard).
EXPECTED_RECORDS = {
    "devskyy:sla_error_budget:ratio",
    *(f"devskyy:sla_error_ratio:rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d")),
}


def all_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def rules() -> list[dict[str, Any]]:
    """The alerting rules."""
    return [rule for rule in all_rules() if "alert" in rule]


def records() -> list[dict[str, Any]]:
    """The recording rules."""
    return [rule for rule in all_rules() if "record" in rule]


@pytest.mark.unit
@pytest.mark.timeout(10)
def test_recording_rules_query_exported_series_only() -> None:
    exported = exported_series()
    assert {r["record"] for r in records()} == EXPECTED_RECORDS
    assert recorded_series() == EXPECTED_RECORDS
    for rule in records():
        assert set(rule) == {"record", "expr"}, rule["record"]
        names = metric_names(rule["expr"])
        assert names, rule["record"]
        assert names <= exported, f"{rule['record']}: {sorted(names - exported)}"


@pytest.mark.unit
@pytest.mark.timeout(10)
def test_rules_are_complete_and_query_exported_series() -> None:
    exported = exported_series() | recorded_series()
    assert {r["alert"] for r in rules()} == EXPECTED_ALERTS
    for rule in rules():
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert set(rule["annotations"]) == {"summary", "description", "runbook"}
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= exported, f"{rule['alert']}: {sorted(names - exported)}"


@pytest.mark.unit
@pytest.mark.timeout(10)
def test_chart_ships_the_same_file() -> None:
    assert CHART_ALERTS.read_bytes() == ALERTS.read_bytes(), (
        "copy deploy/monitoring/alerts.yaml to the chart's files/monitoring/"
    )


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_prometheus_rule_renders_behind_its_switch(helm: Path) -> None:
    def rules_of(set_values: list[str]) -> list[dict[str, Any]]:
        result = helm_template(helm, set_values=set_values)
        assert result.returncode == 0, result.stderr
        return [d for d in parse(result.stdout) if d["kind"] == "PrometheusRule"]

    assert rules_of([]) == []
    [rule] = rules_of(
        ["metrics.prometheusRule.enabled=true", "metrics.prometheusRule.labels.release=kps"]
    )
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "kps"
    assert rule["spec"] == {"groups": yaml.safe_load(ALERTS.read_text())["groups"]}


def promtool_run(promtool: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.integration
@pytest.mark.timeout(600)  # the first run builds promtool
def test_promtool_checks_the_rules(promtool: Path) -> None:
    result = promtool_run(promtool, "check", "rules", "--lint=all", "--lint-fatal", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(EXPECTED_ALERTS) + len(EXPECTED_RECORDS)} rules found" in result.stdout


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_alerts_fire_on_their_situations(promtool: Path) -> None:
    result = promtool_run(promtool, "test", "rules", str(UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {
        case["alertname"]
        for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert tested == EXPECTED_ALERTS


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_dashboard_expressions_parse(promtool: Path, tmp_path: Path) -> None:
    """promtool has no bare expression check: each query becomes a recording rule."""
    records = [
        {"record": f"dashboard:query{i}", "expr": substitute_grafana(expr)}
        for i, expr in enumerate(dashboard_exprs())
    ]
    rules_file = tmp_path / "dashboard-rules.yaml"
    rules_file.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": records}]}))
    result = promtool_run(promtool, "check", "rules", str(rules_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(metric_names(r["expr"]) for r in records)
