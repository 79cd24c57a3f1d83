"""The DevSkyyTask CustomResourceDefinition, generated from the task models.

`python -m devskyy_operator.crd.definition` writes deploy/crds/devskyytasks.devskyy.io.yaml;
`--check PATH` exits 1 when the file differs, so CI and the Helm chart (which
ships the same bytes) can never hold a stale CRD.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from devskyy_agents import models
from devskyy_operator import keys
from devskyy_operator.crd.manifest import (
    CrdNames,
    column,
    crd_manifest,
    render_yaml,
    write_or_check,
)
from devskyy_operator.crd.rules import (
    CACHE_RULES,
    NAME_RULE,
    REGION_RULE,
    SPEC_IMMUTABLE,
    default_maxima,
    field_rules,
    on_create,
    on_create_below,
    resource_rules,
    size_rules,
    type_rules,
)
from devskyy_operator.crd.schema import model_schema, widen
from devskyy_operator.crd.status import TaskStatus
from devskyy_operator.settings import ResourceDefaults, Settings

NAMES = CrdNames(keys.KIND, keys.PLURAL, keys.SINGULAR, keys.SHORT_NAME)
CRD_NAME = NAMES.crd_name
DEFAULT_PATH = NAMES.default_path
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


def spec_schema(
    resources: Mapping[str, ResourceDefaults], *, immutable: bool = True
) -> dict[str, Any]:
    """The task spec. Immutable (a task's own): every rule below the immutability
    rule runs on create only (`on_create_below`); mutable (a schedule's template):
    the rules as they are, on every write."""
    spec = model_schema(models.TaskSpec)
    spec["properties"]["input"], fields = input_schema()
    spec["properties"]["priority"]["default"] = models.DEFAULT_PRIORITY
    spec["properties"]["region"][_VALIDATIONS] = [dict(REGION_RULE)]
    spec["properties"]["cache"][_VALIDATIONS] = [dict(r) for r in CACHE_RULES]
    spec[_VALIDATIONS] = [*type_rules(fields), *(dict(r) for r in resource_rules(resources))]
    if not immutable:
        return spec
    spec = on_create_below(spec)
    spec[_VALIDATIONS].insert(0, dict(SPEC_IMMUTABLE))
    return spec


def status_schema() -> dict[str, Any]:
    """Strict: the operator may write only what the status model declares."""
    return model_schema(TaskStatus)


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
        _VALIDATIONS: [on_create(NAME_RULE)],  # a name never changes
    }
    columns = [
        column("Type", ".spec.type"),
        column("Phase", ".status.phase"),
        column("Priority", ".spec.priority", "integer"),
        column("Attempts", ".status.attempts", "integer"),
        column("User", ".spec.input.user_id"),
        column("Age", ".metadata.creationTimestamp", "date"),
        column("Tier", ".metadata.labels." + keys.LABEL_TIER.replace(".", "\\."), priority=1),
        column("Reason", ".status.reason", priority=1),
        column("Job", ".status.jobName", priority=1),
        column("Cost", ".status.cost.total", priority=1),
        column("Cached-From", ".status.cachedFrom", priority=1),
    ]
    return crd_manifest(NAMES, root, columns)


def render_crd_yaml(resources: Mapping[str, ResourceDefaults] | None = None) -> str:
    """Deterministic YAML: sorted keys, block style, a generated-file header."""
    header = (
        "# Generated by `python -m devskyy_operator.crd.definition` from devskyy_agents.models."
        " Do not edit.\n"
    )
    return render_yaml(build_crd(resources), header)


def main(argv: list[str] | None = None) -> int:
    def maxima_flag(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--maxima-from-env",
            action="store_true",
            help="take the resource maxima from DEVSKYY_RESOURCES__* (default: built-in settings)",
        )

    def render(args: argparse.Namespace) -> str:
        configured = Settings() if args.maxima_from_env else None
        types = models.TaskType
        maxima = {t.value: configured.resources_for(t) for t in types} if configured else None
        return render_crd_yaml(maxima)

    return write_or_check(
        argv,
        "Write or check the DevSkyyTask CRD file.",
        DEFAULT_PATH,
        "devskyy_operator.crd.definition",
        render,
        maxima_flag,
    )


if __name__ == "__main__":
    raise SystemExit(main())
