"""The generated CRD: committed file up to date, names, structural schema."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devskyy_operator.crd import definition as crd
from devskyy_operator.crd.conditions import PHASES

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "deploy" / "crds" / "devskyytasks.devskyy.io.yaml"
CRD = crd.build_crd()
VERSION = CRD["spec"]["versions"][0]
SCHEMA = VERSION["schema"]["openAPIV3Schema"]
SPEC = SCHEMA["properties"]["spec"]
INPUT = SPEC["properties"]["input"]
PRESERVE = "x-kubernetes-preserve-unknown-fields"


def _nodes(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, child in node.get("properties", {}).items():
            yield from _nodes(child, f"{path}.{key}")
        if "items" in node:
            yield from _nodes(node["items"], f"{path}[]")


def _rules() -> list[str]:
    return [r["rule"] for _, n in _nodes(SCHEMA) for r in n.get("x-kubernetes-validations", [])]


def test_committed_file_is_current(tmp_path: Path) -> None:
    assert CRD_FILE.read_text() == crd.render_crd_yaml(), (
        "deploy/crds is stale: run `python -m devskyy_operator.crd.definition`"
    )
    assert crd.main(["--check", str(CRD_FILE)]) == 0
    stale = tmp_path / "crd.yaml"
    stale.write_text("old")
    assert crd.main(["--check", str(stale)]) == 1
    assert crd.main([str(stale)]) == 0
    assert crd.main(["--check", str(stale)]) == 0
    assert yaml.safe_load(CRD_FILE.read_text()) == CRD


def test_names_and_printer_columns() -> None:
    assert CRD["metadata"]["name"] == "devskyytasks.devskyy.io"
    assert CRD["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    names = CRD["spec"]["names"]
    assert (names["kind"], names["plural"], names["singular"]) == (
        "DevSkyyTask",
        "devskyytasks",
        "devskyytask",
    )
    assert names["shortNames"] == ["dst"]
    assert names["categories"] == ["devskyy"]
    assert CRD["spec"]["scope"] == "Namespaced"
    assert VERSION["served"]
    assert VERSION["storage"]
    assert VERSION["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in VERSION["additionalPrinterColumns"]}
    assert [c for c in columns if "priority" not in columns[c]] == [
        "Type",
        "Phase",
        "Priority",
        "Attempts",
        "User",
        "Age",
    ]
    assert columns["Job"]["jsonPath"] == ".status.jobName"
    assert columns["Job"]["priority"] == 1
    assert columns["Tier"] == {  # -o wide: the label the bridge sets (dots escaped)
        "name": "Tier", "type": "string", "priority": 1,
        "jsonPath": ".metadata.labels.devskyy\\.io/tier",
    }  # fmt: skip
    assert (columns["Cost"]["jsonPath"], columns["Cost"]["priority"]) == (".status.cost.total", 1)


def test_schema_is_structural() -> None:
    forbidden = {
        "$ref",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "additionalProperties",
        "nullable",
        "title",
        "$defs",
        "const",
    }
    for path, node in _nodes(SCHEMA):
        assert not forbidden & set(node), (path, forbidden & set(node))
        assert "type" in node or node.get(PRESERVE) is True, path
        if "default" in node:
            assert path == ".spec.priority"
        if "pattern" in node:
            assert not re.search(r"\(\?[=!<]|\\[1-9]", node["pattern"]), path  # RE2: no lookaround
            re.compile(node["pattern"])
        if path.startswith(".spec.input.") and not path.endswith("[]"):
            assert node.get("description"), f"{path} needs a description for kubectl explain"
    assert not SCHEMA["properties"]["status"].get(PRESERVE)


def test_status_schema() -> None:
    status = SCHEMA["properties"]["status"]["properties"]
    assert status["phase"]["enum"] == list(PHASES)
    conditions = status["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert "type" in conditions["items"]["required"]
    for field in ("queuedAt", "admittedAt", "startedAt", "completedAt"):
        assert status[field]["format"] == "date-time"
    assert status["result"][PRESERVE] is True


def test_spec_bounds_and_input_shape() -> None:
    props = SPEC["properties"]
    assert (props["timeoutSeconds"]["minimum"], props["timeoutSeconds"]["maximum"]) == (1, 86400)
    assert (props["retries"]["minimum"], props["retries"]["maximum"]) == (0, 10)
    assert (props["priority"]["minimum"], props["priority"]["maximum"]) == (0, 1000)
    assert INPUT["properties"]["input_data"] == {
        PRESERVE: True,
        "description": "ml_prediction: One record or a list of records.",
    }
    assert INPUT["properties"]["content"]["type"] == "object"
    assert "ml_training" in INPUT["properties"]["model_id"]["description"]
    assert "ml_prediction" in INPUT["properties"]["model_id"]["description"]
    assert INPUT["required"] == ["user_id"]
    assert props["resources"]["properties"]["limits"]["properties"]["cpu"]["pattern"]
