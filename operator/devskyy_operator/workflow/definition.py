"""The DevSkyyWorkflow CustomResourceDefinition, generated from the workflow models.

`python -m devskyy_operator.workflow.definition` writes
deploy/crds/devskyyworkflows.devskyy.io.yaml; `--check PATH` exits 1 when the
file differs (hack/sync-crds.sh copies it into the chart, a test compares).

A step's `task` is the DevSkyyTask spec schema with its per-type CEL rules
(required and foreign input fields). Left out, because a reference
`{{ steps.X.outputs.Y }}` stands where a value will be: the per-field format
rules (https URLs, relative paths, sizes), which the models apply to the
substituted input before the step task is created, and the resource maxima,
which the task's own CRD applies when the controller creates it (and the API
checks at submission).

The DAG rules (dependsOn names only steps listed before it, so no cycle can be
written; references name steps depended on) are not CEL: naming the step at
fault takes two-variable comprehensions (Kubernetes >= 1.33; the chart supports
1.29), and every single-variable form that names it (`filter(...)[0].name`,
`map(...).indexOf`) exceeds the apiserver's cost budget (measured on v1.34). So
the API refuses such a workflow and the controller ends one created with
kubectl `Failed` (reason InvalidWorkflow), the step named, before any step runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from devskyy_agents import models
from devskyy_operator import keys
from devskyy_operator.crd.definition import input_schema
from devskyy_operator.crd.rules import type_rules
from devskyy_operator.crd.schema import model_schema
from devskyy_operator.workflow.spec import WORKFLOW_NAME_PATTERN, StepTask, WorkflowSpec
from devskyy_operator.workflow.status import WorkflowStatus

CRD_NAME = f"{keys.WORKFLOW_PLURAL}.{keys.GROUP}"
DEFAULT_PATH = Path("deploy/crds") / f"{CRD_NAME}.yaml"
_VALIDATIONS = "x-kubernetes-validations"

STEPS_IMMUTABLE = {
    "rule": "self == oldSelf",
    "message": "steps are immutable; delete and re-create the workflow",
}
POLICY_IMMUTABLE = {"rule": "self == oldSelf", "message": "failurePolicy is immutable"}
CANCEL_FINAL = {"rule": "!oldSelf || self", "message": "a cancelled workflow cannot be resumed"}
NAME_RULE = {
    "rule": f"self.metadata.name.matches('{WORKFLOW_NAME_PATTERN}')",
    "message": "metadata.name must be lowercase letters, digits and '-', at most 31 "
    "characters (its step tasks are named <workflow>-<step>)",
}


def step_task_schema() -> dict[str, Any]:
    spec = model_schema(StepTask)
    task_input, fields = input_schema()
    for prop in task_input["properties"].values():
        prop.pop(_VALIDATIONS, None)
    spec["properties"]["input"] = task_input
    spec["properties"]["priority"]["default"] = models.DEFAULT_PRIORITY
    spec[_VALIDATIONS] = type_rules(fields)
    return spec


def spec_schema() -> dict[str, Any]:
    spec = model_schema(WorkflowSpec)
    steps = spec["properties"]["steps"]
    steps["items"]["properties"]["task"] = step_task_schema()
    steps[_VALIDATIONS] = [dict(STEPS_IMMUTABLE)]
    spec["properties"]["failurePolicy"]["default"] = "Stop"
    spec["properties"]["failurePolicy"][_VALIDATIONS] = [dict(POLICY_IMMUTABLE)]
    spec["properties"]["cancel"]["default"] = False
    spec["properties"]["cancel"][_VALIDATIONS] = [dict(CANCEL_FINAL)]
    return spec


def _column(name: str, path: str, kind: str = "string", priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
    if priority:
        column["priority"] = priority
    return column


def build_crd() -> dict[str, Any]:
    root = {
        "type": "object",
        "description": "A DevSkyy workflow: named steps, each run as one DevSkyyTask, "
        "in the order their dependsOn gives.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema(),
            "status": model_schema(WorkflowStatus),
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
            _column("Phase", ".status.phase"),
            _column("Progress", ".status.progress"),
            _column("Failed", ".status.failedStep"),
            _column("Age", ".metadata.creationTimestamp", "date"),
            _column("Reason", ".status.reason", priority=1),
            _column("Message", ".status.message", priority=1),
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
                "kind": keys.WORKFLOW_KIND,
                "listKind": f"{keys.WORKFLOW_KIND}List",
                "plural": keys.WORKFLOW_PLURAL,
                "singular": keys.WORKFLOW_SINGULAR,
                "shortNames": [keys.WORKFLOW_SHORT_NAME],
                "categories": [keys.CATEGORY],
            },
            "versions": [version],
        },
    }


def render_crd_yaml() -> str:
    body = yaml.safe_dump(build_crd(), sort_keys=True, default_flow_style=False, width=100)
    header = (
        "# Generated by `python -m devskyy_operator.workflow.definition` from the workflow"
        " models. Do not edit.\n"
    )
    return header + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write or check the DevSkyyWorkflow CRD file.")
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--check", metavar="PATH", type=Path, help="fail if PATH is stale")
    args = parser.parse_args(argv)
    rendered = render_crd_yaml()
    if args.check is not None:
        current = args.check.read_text() if args.check.exists() else ""
        if current != rendered:
            print(
                f"{args.check} is stale; run: python -m devskyy_operator.workflow.definition",
                file=sys.stderr,
            )
            return 1
        return 0
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(rendered)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
