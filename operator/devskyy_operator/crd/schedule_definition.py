"""The DevSkyySchedule CustomResourceDefinition, generated from the schedule models.

`python -m devskyy_operator.crd.schedule_definition` writes
deploy/crds/devskyyschedules.devskyy.io.yaml; `--check PATH` exits 1 when it is
stale (hack/sync-crds.sh copies it into the chart). The template's task spec
carries the task CRD's own schema and CEL rules (crd/definition.py), minus
immutability: a schedule's template may change, its runs' specs may not.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from devskyy_operator import keys
from devskyy_operator.crd.definition import _column, spec_schema
from devskyy_operator.crd.rules import SPEC_IMMUTABLE, default_maxima
from devskyy_operator.crd.schedule import (
    ALLOW,
    SCHEDULE_NAME_PATTERN,
    ScheduleSpec,
    ScheduleStatus,
)
from devskyy_operator.crd.schema import model_schema
from devskyy_operator.settings import ResourceDefaults

CRD_NAME = f"{keys.SCHEDULE_PLURAL}.{keys.GROUP}"
DEFAULT_PATH = Path("deploy/crds") / f"{CRD_NAME}.yaml"
_VALIDATIONS = "x-kubernetes-validations"
# The apiserver checks the shape; the operator and the API parse the expression
# and look the zone up (CEL can do neither), naming what is wrong.
CRON_SHAPE = r"^(@[a-z]+|[0-9A-Za-z*?/,-]+( +[0-9A-Za-z*?/,-]+){4})$"
ZONE_SHAPE = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"

NAME_RULE = {
    "rule": f"self.metadata.name.matches('{SCHEDULE_NAME_PATTERN}')",
    "message": "metadata.name must be lowercase letters, digits and '-', at most 43 characters "
    "(a run is named <schedule>-<unix minutes> and must be a task id)",
}


def template_spec_schema(resources: Mapping[str, ResourceDefaults]) -> dict[str, Any]:
    spec = spec_schema(resources)
    spec[_VALIDATIONS] = [r for r in spec[_VALIDATIONS] if r != dict(SPEC_IMMUTABLE)]
    return spec


def schedule_spec_schema(resources: Mapping[str, ResourceDefaults]) -> dict[str, Any]:
    spec = model_schema(ScheduleSpec)
    props = spec["properties"]
    props["template"]["properties"]["spec"] = template_spec_schema(resources)
    props["schedule"]["pattern"] = CRON_SHAPE
    props["timeZone"]["pattern"] = ZONE_SHAPE
    props["suspend"]["default"] = False  # shown in `kubectl get` as CronJob does
    props["concurrencyPolicy"]["default"] = ALLOW
    return spec


def build_crd(resources: Mapping[str, ResourceDefaults] | None = None) -> dict[str, Any]:
    resources = default_maxima() if resources is None else resources
    root = {
        "type": "object",
        "description": "Runs a DevSkyyTask on a cron schedule, with Kubernetes CronJob's rules.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": schedule_spec_schema(resources),
            "status": model_schema(ScheduleStatus),
        },
        _VALIDATIONS: [NAME_RULE],
    }
    version = {
        "name": keys.VERSION,
        "served": True,
        "storage": True,
        "subresources": {"status": {}},
        "schema": {"openAPIV3Schema": root},
        "additionalPrinterColumns": [
            _column("Schedule", ".spec.schedule"),
            _column("Timezone", ".spec.timeZone"),
            _column("Suspend", ".spec.suspend", "boolean"),
            _column("Active", ".status.activeCount", "integer"),
            _column("Last Schedule", ".status.lastScheduleTime", "date"),
            # A string: kubectl shows a future date as "<invalid>".
            _column("Next Schedule", ".status.nextScheduleTime"),
            _column("Age", ".metadata.creationTimestamp", "date"),
            _column("Policy", ".spec.concurrencyPolicy", priority=1),
            _column("Type", ".spec.template.spec.type", priority=1),
            _column("Last Success", ".status.lastSuccessfulTime", "date", priority=1),
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
                "kind": keys.SCHEDULE_KIND,
                "listKind": f"{keys.SCHEDULE_KIND}List",
                "plural": keys.SCHEDULE_PLURAL,
                "singular": keys.SCHEDULE_SINGULAR,
                "shortNames": [keys.SCHEDULE_SHORT_NAME],
                "categories": [keys.CATEGORY],
            },
            "versions": [version],
        },
    }


def render_crd_yaml(resources: Mapping[str, ResourceDefaults] | None = None) -> str:
    body = yaml.safe_dump(build_crd(resources), sort_keys=True, default_flow_style=False, width=100)
    header = (
        "# Generated by `python -m devskyy_operator.crd.schedule_definition` from "
        "devskyy_operator.crd.schedule. Do not edit.\n"
    )
    return header + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write or check the DevSkyySchedule CRD file.")
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--check", metavar="PATH", type=Path, help="fail if PATH is stale")
    args = parser.parse_args(argv)
    rendered = render_crd_yaml()
    if args.check is not None:
        current = args.check.read_text() if args.check.exists() else ""
        if current != rendered:
            print(f"{args.check} is stale; run: python -m {__spec__.name}", file=sys.stderr)
            return 1
        return 0
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(rendered)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
