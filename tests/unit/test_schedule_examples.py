"""examples/schedules/*.yaml are valid schedules (the apiserver's view: tests/e2e)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from devskyy_operator import keys
from devskyy_operator.crd.schedule import SCHEDULE_NAME_PATTERN, parse_schedule_spec

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "schedules").glob("*.yaml"))


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_a_valid_schedule(path: Path) -> None:
    body = yaml.safe_load(path.read_text())
    assert body["kind"] == keys.SCHEDULE_KIND
    assert body["apiVersion"] == keys.API_VERSION
    assert re.match(SCHEDULE_NAME_PATTERN, body["metadata"]["name"])
    spec = parse_schedule_spec(body["spec"])
    _, zone = spec.parsed()
    assert zone.key == spec.time_zone
