"""The generated DevSkyySchedule CRD: committed file current, names, columns, and a
task template held to the task CRD's own schema and rules (minus immutability, and
so run on every write, not on create only)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from devskyy_agents.models import TASK_ID_RE
from devskyy_operator.controller.schedule_plan import run_name
from devskyy_operator.crd import definition, schedule_definition
from devskyy_operator.crd.rules import NAME_RULE as TASK_NAME_RULE
from devskyy_operator.crd.rules import SPEC_IMMUTABLE, on_create, on_create_below
from devskyy_operator.crd.schedule import MAX_SCHEDULE_NAME, SCHEDULE_NAME_PATTERN

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "deploy" / "crds" / "devskyyschedules.devskyy.io.yaml"
CRD = schedule_definition.build_crd()
VERSION = CRD["spec"]["versions"][0]
SCHEMA = VERSION["schema"]["openAPIV3Schema"]
SPEC = SCHEMA["properties"]["spec"]
PRESERVE = "x-kubernetes-preserve-unknown-fields"


def _nodes(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, child in (node.get("properties") or {}).items():
            yield from _nodes(child, f"{path}.{key}")
        if "items" in node:
            yield from _nodes(node["items"], f"{path}[]")


def test_committed_file_is_current(tmp_path: Path) -> None:
    assert CRD_FILE.read_text() == schedule_definition.render_crd_yaml(), (
        "deploy/crds is stale: run `python -m devskyy_operator.crd.schedule_definition`"
    )
    assert schedule_definition.main(["--check", str(CRD_FILE)]) == 0
    stale = tmp_path / "crd.yaml"
    stale.write_text("old")
    assert schedule_definition.main(["--check", str(stale)]) == 1
    assert schedule_definition.main([str(stale)]) == 0
    assert schedule_definition.main(["--check", str(stale)]) == 0


def test_names_and_printer_columns() -> None:
    assert CRD["metadata"]["name"] == "devskyyschedules.devskyy.io"
    names = CRD["spec"]["names"]
    assert (names["kind"], names["plural"], names["shortNames"], names["categories"]) == (
        "DevSkyySchedule", "devskyyschedules", ["dss"], ["devskyy"],
    )  # fmt: skip
    assert VERSION["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in VERSION["additionalPrinterColumns"]}
    assert [c for c in columns if "priority" not in columns[c]] == [
        "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Next Schedule", "Age",
    ]  # fmt: skip
    assert columns["Next Schedule"]["type"] == "string"  # kubectl shows a future date as <invalid>
    assert columns["Last Schedule"]["type"] == "date"


def test_the_template_is_the_task_spec_without_immutability() -> None:
    template = SPEC["properties"]["template"]["properties"]["spec"]
    task = definition.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    task_spec = task["properties"]["spec"]
    assert SPEC_IMMUTABLE in task_spec["x-kubernetes-validations"]
    assert SPEC_IMMUTABLE not in template["x-kubernetes-validations"]
    # The task's rules are the template's, run on create only (its spec is immutable).
    guarded = on_create_below(template)
    assert task_spec == {
        **guarded,
        "x-kubernetes-validations": [SPEC_IMMUTABLE, *guarded["x-kubernetes-validations"]],
    }
    assert task["x-kubernetes-validations"] == [on_create(TASK_NAME_RULE)]
    # A template may change: each of its rules runs on every write.
    rules = [r for _, n in _nodes(template) for r in n.get("x-kubernetes-validations", [])]
    assert len(rules) > 30
    assert not [r for r in rules if "oldSelf" in r["rule"] or "optionalOldSelf" in r]
    assert SCHEMA["x-kubernetes-validations"] == [on_create(schedule_definition.NAME_RULE)]


def test_schema_is_structural_and_defaults_are_cronjobs() -> None:
    forbidden = {"$ref", "anyOf", "oneOf", "allOf", "not", "additionalProperties", "nullable"}
    defaults = {}
    for path, node in _nodes(SCHEMA):
        assert not forbidden & set(node), (path, forbidden & set(node))
        assert "type" in node or node.get(PRESERVE) is True, path
        if "default" in node:
            defaults[path] = node["default"]
        if "pattern" in node:
            re.compile(node["pattern"])
    assert defaults == {
        ".spec.concurrencyPolicy": "Allow",
        ".spec.suspend": False,
        ".spec.template.spec.priority": definition.models.DEFAULT_PRIORITY,
    }
    assert set(SPEC["required"]) == {"schedule", "template"}


@pytest.mark.parametrize(
    ("expression", "shaped"),
    [("* * * * *", True), ("*/5 9-17 * * mon-fri", True), ("@daily", True),
     ("every minute", False), ("* * * *", False), ("* * * * * *", False)],
)  # fmt: skip
def test_the_apiservers_shape_check(expression: str, shaped: bool) -> None:
    assert bool(re.match(SPEC["properties"]["schedule"]["pattern"], expression)) is shaped


def test_the_longest_schedule_name_still_makes_task_ids() -> None:
    longest = "s" * MAX_SCHEDULE_NAME
    assert re.match(SCHEDULE_NAME_PATTERN, longest)
    assert not re.match(SCHEDULE_NAME_PATTERN, longest + "s")
    far = datetime(2150, 1, 1, tzinfo=UTC)
    assert TASK_ID_RE.match(run_name(longest, far))
    assert yaml.safe_load(CRD_FILE.read_text()) == CRD
