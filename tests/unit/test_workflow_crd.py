"""The DevSkyyWorkflow CRD: generated from the models, committed current, shaped for kubectl."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devskyy_operator.workflow import definition

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "deploy" / "crds" / "devskyyworkflows.devskyy.io.yaml"
CRD = yaml.safe_load(CRD_FILE.read_text())
VERSION = CRD["spec"]["versions"][0]
SPEC = VERSION["schema"]["openAPIV3Schema"]["properties"]["spec"]
STEP = SPEC["properties"]["steps"]["items"]


def test_committed_file_is_current(tmp_path: Path) -> None:
    assert CRD_FILE.read_text() == definition.render_crd_yaml(), (
        "run `python -m devskyy_operator.workflow.definition`"
    )
    assert definition.main(["--check", str(CRD_FILE)]) == 0
    stale = tmp_path / "crd.yaml"
    stale.write_text("old")
    assert definition.main(["--check", str(stale)]) == 1
    assert definition.main([str(stale)]) == 0
    assert definition.main(["--check", str(stale)]) == 0


def test_names_and_columns() -> None:
    names = CRD["spec"]["names"]
    assert (names["kind"], names["shortNames"], names["categories"]) == (
        "DevSkyyWorkflow", ["dstwf"], ["devskyy"],
    )  # fmt: skip
    columns = [(c["name"], c["jsonPath"]) for c in VERSION["additionalPrinterColumns"]]
    assert columns[:3] == [
        ("Phase", ".status.phase"), ("Progress", ".status.progress"),
        ("Failed", ".status.failedStep"),
    ]  # fmt: skip
    assert VERSION["subresources"] == {"status": {}}


def test_steps_are_an_immutable_map_by_name() -> None:
    steps = SPEC["properties"]["steps"]
    assert steps["x-kubernetes-list-type"] == "map"  # the apiserver refuses a name twice
    assert steps["x-kubernetes-list-map-keys"] == ["name"]
    assert steps["maxItems"] == 20
    rules = [r["rule"] for r in steps["x-kubernetes-validations"]]
    assert rules == ["self == oldSelf"]  # the DAG rules: API and controller (definition.py)
    assert STEP["properties"]["name"]["maxLength"] == 20


def test_step_task_keeps_the_type_rules_but_not_the_format_rules() -> None:
    task = STEP["properties"]["task"]
    messages = [r["message"] for r in task["x-kubernetes-validations"]]
    assert (
        "type marketing_campaign requires input fields: campaign_id, campaign_type, recipients"
        in (messages)
    )
    for name, prop in task["properties"]["input"]["properties"].items():
        assert "x-kubernetes-validations" not in prop, name  # a reference may stand there
    assert task["properties"]["priority"]["default"] == 100


def test_what_cannot_change_is_checked_on_create_only() -> None:
    """The steps are immutable and a map by name (each step has its old self), so their
    rules, like the name's, stop at `oldSelf.hasValue()` on every update."""
    root = VERSION["schema"]["openAPIV3Schema"]
    for rule in [*STEP["properties"]["task"]["x-kubernetes-validations"],
                 *root["x-kubernetes-validations"]]:  # fmt: skip
        assert rule["optionalOldSelf"] is True
        assert rule["rule"].startswith("oldSelf.hasValue() || ("), rule
    assert root["x-kubernetes-validations"][0]["message"] == definition.NAME_RULE["message"]
    # The mutable cancel flag keeps its transition rule, the immutability rules theirs.
    for field in ("cancel", "failurePolicy", "steps"):
        (rule,) = SPEC["properties"][field]["x-kubernetes-validations"]
        assert "optionalOldSelf" not in rule, field
