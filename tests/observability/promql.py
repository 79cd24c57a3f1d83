"""What the dashboard and the alerts may query: the series names our code exports.

Names come from the collectors themselves (`describe()`), not from a list kept by
hand, so a renamed metric breaks the dashboard test instead of a panel.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import yaml
from prometheus_client import Metric
from prometheus_client.metrics import MetricWrapperBase

from devskyy_operator import metrics
from devskyy_operator.metrics import ApiMetrics

SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
    "summary": ("", "_sum", "_count", "_created"),
}
SCRAPE_SERIES = frozenset({"up"})  # written by Prometheus itself
GRAFANA_VARIABLES = {
    "${datasource}": "prometheus",
    "$__rate_interval": "1m",
    "$__range": "1h",
    "$type": ".*",
}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"})


def families(collectors: Iterable[MetricWrapperBase]) -> list[Metric]:
    return [family for c in collectors for family in c.describe()]


def our_collectors() -> list[MetricWrapperBase]:
    """Every collector in devskyy_operator.metrics, plus the API's own registry."""
    found = [v for v in vars(metrics).values() if isinstance(v, MetricWrapperBase)]
    api = ApiMetrics()
    found += [api.queue_size, api.history_age, api.requests, api.latency]
    return found


def exported_series() -> set[str]:
    """Sample names as they appear in the exposition (`_total`, `_bucket`, ...)."""
    names = set(SCRAPE_SERIES)
    for family in families(our_collectors()):
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


RULES = Path(__file__).resolve().parents[2] / "deploy" / "monitoring" / "alerts.yaml"


def recorded_series() -> set[str]:
    """Series the recording rules of deploy/monitoring/alerts.yaml write."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


def substitute_grafana(expr: str) -> str:
    """Grafana variables replaced by values Prometheus accepts."""
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def metric_names(expr: str) -> set[str]:
    """Metric identifiers in a PromQL expression (not functions, labels or keywords)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    names = set()
    for match in _IDENT.finditer(text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or match.group() in _KEYWORDS:
            continue  # a function or aggregation call
        names.add(match.group())
    return names
