"""The Grafana dashboard queries only series our components export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.observability.promql import (
    exported_series,
    metric_names,
    recorded_series,
    substitute_grafana,
)

pytestmark = [pytest.mark.unit, pytest.mark.timeout(10)]

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "monitoring" / "grafana-dashboard.json"
REQUIRED = {
    "worker_queue_size",
    "worker_tasks_total",
    "worker_task_duration_seconds_bucket",
    "worker_errors_total",
    "devskyy_dlq_size",
    "devskyy_dead_letters_total",
    "devskyy_admission_wait_seconds_bucket",
    "devskyy_running_tasks",
    "devskyy_waiting_tasks",
    "devskyy_ready_backlog",
    "devskyy_task_resource_seconds_total",
    "devskyy_bridge_lag_seconds",
    "devskyy_sla_breaches_total",
    "devskyy_sla_objective_target",
    "devskyy:sla_error_ratio:rate1h",
    "devskyy:sla_error_budget:ratio",
}


def load() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def targets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for p in dashboard["panels"] for t in p.get("targets", [])]


def dashboard_exprs() -> list[str]:
    return [t["expr"] for t in targets(load())]


def test_every_expression_uses_exported_series_only() -> None:
    exported = exported_series() | recorded_series()
    used: set[str] = set()
    for expr in dashboard_exprs():
        names = metric_names(substitute_grafana(expr))
        assert names, f"no metric in {expr!r}"
        assert names <= exported, f"{expr!r} queries {sorted(names - exported)}"
        used |= names
    assert used >= REQUIRED, f"no panel for {sorted(REQUIRED - used)}"


def test_quantiles_and_throughput_panels() -> None:
    exprs = "\n".join(dashboard_exprs())
    for quantile in ("0.5", "0.95", "0.99"):
        assert (
            f"histogram_quantile({quantile}, sum by (le, type) "
            "(rate(worker_task_duration_seconds_bucket" in exprs
        )
    assert "sum by (status) (rate(worker_tasks_total" in exprs
    assert "sum by (user) (increase(devskyy_task_resource_seconds_total" in exprs


def test_prometheus_datasource_is_a_variable() -> None:
    dashboard = load()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    for target in targets(dashboard):
        assert target["datasource"]["uid"] == "${datasource}"


def test_panel_ids_are_unique_and_titled() -> None:
    panels = load()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    assert all(p["title"] for p in panels)


def test_extractor_skips_functions_labels_and_keywords() -> None:
    expr = (
        'sum by (type) (rate(a_total{type=~"$type", x="y{z}"}[5m])) / 1e-9 > bool 0'
        " unless on (type) b:rec offset 5m"
    )
    assert metric_names(substitute_grafana(expr)) == {"a_total", "b:rec"}
