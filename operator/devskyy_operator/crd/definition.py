"""The DevSkyyTask CustomResourceDefinition, generated from the task models.

`python -m devskyy_operator.crd.definition` writes deploy/crds/devskyytasks.devskyy.io.yaml;
`--check PATH` exits 1 when the file differs, so CI and the Helm chart (which
ships the same bytes) can never hold a stale CRD.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from devskyy_agents import models
from devskyy_operator import keys
from devskyy_operator.crd.rules import (
    CACHE_RULES,
    NAME_RULE,
    REGION_RULE,
    SPEC_IMMUTABLE,
    default_maxima,
    field_rules,
    resource_rules,
    size_rules,
    type_rules,
)
from devskyy_operator.crd.schema import model_schema, widen
from devskyy_operator.crd.status import TaskStatus
from devskyy_operator.settings import ResourceDefaults, Settings

CRD_NAME = f"{keys.PLURAL}.{keys.GROUP}"
DEFAULT_PATH = Path("deploy/crds") / f"{CRD_NAME}.yaml"
_VALIDATIONS = "x-kubernetes-validations"


def input_schema() -> tuple[dict[str, Any], list[str]]:
    """`spec.input`: one object holding every task type's fields (widened where shared)."""
    merged: dict[str, dict[str, Any]] = {}
    notes: dict[str, list[tuple[str, str]]] = {}
    required_everywhere: set[str] | None = None
    for task_type, model in models.INPUT_MODELS.items():
        schema = model_schema(model)
        required_everywhere = (
            set(schema.get("required", ()))
            if required_everywhere is None
            else required_everywhere & set(schema.get("required", ()))
        )
        for name, prop in schema["properties"].items():
            prop = dict(prop)
            text = prop.pop("description", "")
            merged[name] = widen(merged[name], prop) if name in merged else prop
            notes.setdefault(name, []).append((task_type.value, text))
    everyone = len(models.INPUT_MODELS)
    rules = field_rules()
    for name, extra in size_rules(merged).items():
        rules[name] = (*rules.get(name, ()), *extra)
    for name, prop in merged.items():
        users = notes[name]
        texts = list(dict.fromkeys(text for _, text in users))
        if len(texts) == 1:
            who = "All task types" if len(users) == everyone else ", ".join(t for t, _ in users)
            prop["description"] = f"{who}: {texts[0]}"
        else:
            prop["description"] = " ".join(f"{t}: {text}" for t, text in users)
        if name in rules:
            prop[_VALIDATIONS] = [dict(r) for r in rules[name]]
    required = sorted(required_everywhere or ())
    schema = {
        "type": "object",
        "description": "Task input; which fields apply depends on spec.type "
        "(each field names the types that use it).",
        "properties": merged,
        "required": required,
    }
    # CEL can only see fields with a declared type (input_data may be an object or a list).
    return schema, [name for name, prop in merged.items() if "type" in prop]


def spec_schema(resources: Mapping[str, ResourceDefaults]) -> dict[str, Any]:
    spec = model_schema(models.TaskSpec)
    spec["properties"]["input"], fields = input_schema()
    spec["properties"]["priority"]["default"] = models.DEFAULT_PRIORITY
    spec["properties"]["region"][_VALIDATIONS] = [dict(REGION_RULE)]
    spec["properties"]["cache"][_VALIDATIONS] = [dict(r) for r in CACHE_RULES]
    spec[_VALIDATIONS] = [
        dict(SPEC_IMMUTABLE),
        *type_rules(fields),
        *(dict(r) for r in resource_rules(resources)),
    ]
    return spec


def status_schema() -> dict[str, Any]:
    """Strict: the operator may write only what the status model declares."""
    return model_schema(TaskStatus)


def _column(name: str, path: str, kind: str = "string", priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
    if priority:
        column["priority"] = priority
    return column


def build_crd(resources: Mapping[str, ResourceDefaults] | None = None) -> dict[str, Any]:
    """The CustomResourceDefinition manifest (apiextensions.k8s.io/v1).

    `resources` gives the per-type maxima of the CEL rules; the built-in
    settings defaults when None (the committed file and the chart's defaults).
    """
    resources = default_maxima() if resources is None else resources
    root = {
        "type": "object",
        "description": "A DevSkyy background task; runs as one Kubernetes Job.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema(resources),
            "status": status_schema(),
        },
        _VALIDATIONS: [dict(NAME_RULE)],
    }
    version = {
        "name": keys.VERSION,
        "served": True,
        "storage": True,
        "subresources": {"status": {}},
        "schema": {"openAPIV3Schema": root},
        "additionalPrinterColumns": [
            _column("Type", ".spec.type"),
            _column("Phase", ".status.phase"),
            _column("Priority", ".spec.priority", "integer"),
            _column("Attempts", ".status.attempts", "integer"),
            _column("User", ".spec.input.user_id"),
            _column("Age", ".metadata.creationTimestamp", "date"),
            _column("Tier", ".metadata.labels." + keys.LABEL_TIER.replace(".", "\\."), priority=1),
            _column("Reason", ".status.reason", priority=1),
            _column("Job", ".status.jobName", priority=1),
            _column("Cost", ".status.cost.total", priority=1),
            _column("Cached-From", ".status.cachedFrom", priority=1),
        ],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "annotations": {"helm.sh/resource-policy": "keep"},
            "labels": {"app.kubernetes.io/part-of": "devskyy"},
        },
        "spec": {
            "group": keys.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": keys.KIND,
                "listKind": f"{keys.KIND}List",
                "plural": keys.PLURAL,
                "singular": keys.SINGULAR,
                "shortNames": [keys.SHORT_NAME],
                "categories": [keys.CATEGORY],
            },
            "versions": [version],
        },
    }


def render_crd_yaml(resources: Mapping[str, ResourceDefaults] | None = None) -> str:
    """Deterministic YAML: sorted keys, block style, a generated-file header."""
    crd = build_crd(resources)
    body = yaml.safe_dump(crd, sort_keys=True, default_flow_style=False, width=100)
    header = (
        "# Generated by `python -m devskyy_operator.crd.definition` from devskyy_agents.models."
        " Do not edit.\n"
    )
    return header + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write or check the DevSkyyTask CRD file.")
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--check", metavar="PATH", type=Path, help="fail if PATH is stale")
    parser.add_argument(
        "--maxima-from-env",
        action="store_true",
        help="take the resource maxima from DEVSKYY_RESOURCES__* (default: built-in settings)",
    )
    args = parser.parse_args(argv)
    configured = Settings() if args.maxima_from_env else None
    maxima = {t.value: configured.resources_for(t) for t in models.TaskType} if configured else None
    rendered = render_crd_yaml(maxima)
    if args.check is not None:
        current = args.check.read_text() if args.check.exists() else ""
        if current != rendered:
            print(
                f"{args.check} is stale; run: python -m devskyy_operator.crd.definition",
                file=sys.stderr,
            )
            return 1
        return 0
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(rendered)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
