"""values.schema.json is strict: unknown keys and wrong types make `helm template` fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import CHART, helm_template

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("unknownTopLevel=1", "additional properties 'unknownTopLevel' not allowed"),
        ("operator.replica=2", "additional properties 'replica' not allowed"),
        ("taskTypes.generate_3d.gpu=1", "additional properties 'gpu' not allowed"),
        (
            "taskTypes.unknown_type.concurrency=1",
            "additional properties 'unknown_type' not allowed",
        ),
        ("tasks.config.OPENAI_API_KEY=sk-x", "additional properties 'OPENAI_API_KEY' not allowed"),
        ("operator.replicas=two", "got string, want integer"),
        ("crds.install=maybe", "got string, want boolean"),
        ("settings.logFormat=xml", "/settings/logFormat"),
        ("controlImage.digest=sha256:nothex", "/controlImage/digest"),
        ("taskTypes.ml_training.concurrency=-1", "/taskTypes/ml_training/concurrency"),
        ("networkPolicy.tasks.blockedCidrs[0]=everything", "/networkPolicy/tasks/blockedCidrs/0"),
        ("api.service.type=Ingress", "/api/service/type"),
        ("tiers.definitions.free.concurrencyShare=2", "/tiers/definitions/free/concurrencyShare"),
        ("tiers.definitions.free.burst=1", "additional properties 'burst' not allowed"),
        ("tiers.users.alice=Gold", "/tiers/users/alice"),
    ],
)
def test_invalid_values_fail_the_render(helm: Path, override: str, message: str) -> None:
    result = helm_template(helm, set_values=[override])
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def _objects(node: Any, path: str = "#") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            found.append((path, node))
        for key, value in node.items():
            found += _objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _objects(value, f"{path}/{i}")
    return found


def test_every_declared_object_is_closed() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    objects = _objects(schema)
    assert len(objects) > 30
    for path, node in objects:
        assert node.get("additionalProperties") is False, path
