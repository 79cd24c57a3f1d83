"""Regions, pure: the spec field at every door, the keys, the bridge setting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from devskyy_agents.models import parse_spec
from devskyy_operator import keys
from devskyy_operator.crd.definition import build_crd
from devskyy_operator.crd.rules import REGION_RULE, on_create
from devskyy_operator.redisq.enqueue import task_fields
from devskyy_operator.settings import Settings

pytestmark = [pytest.mark.unit, pytest.mark.timeout(10)]


def spec(**fields: object) -> dict[str, object]:
    return {"type": "diagnostic", "input": {"user_id": "alice"}, **fields}


def test_no_region_keeps_the_seed_keys_and_fields() -> None:
    assert keys.queue_key("diagnostic") == "queue:diagnostic"
    assert keys.leases_key("diagnostic", None) == "devskyy:leases:diagnostic"
    assert keys.bridged_key("diagnostic", "") == "devskyy:bridged:diagnostic"
    plain = parse_spec(spec())
    assert plain.region is None
    fields = task_fields(plain, "2026-01-05T12:00:00Z", "api")
    assert "region" not in fields[::2]
    assert "queue" not in fields[::2]


def test_a_region_has_keys_of_its_own() -> None:
    assert keys.queue_key("diagnostic", "eu-west") == "devskyy:region:eu-west:queue:diagnostic"
    assert keys.leases_key("ml_training", "eu-west") == "devskyy:region:eu-west:leases:ml_training"
    assert keys.bridged_key("diagnostic", "us-east") == "devskyy:region:us-east:bridged:diagnostic"
    regional = parse_spec(spec(region="eu-west"))
    fields = dict(
        zip(*[iter(task_fields(regional, "2026-01-05T12:00:00Z", "api"))] * 2, strict=True)
    )
    assert fields["region"] == "eu-west"
    assert fields["queue"] == "devskyy:region:eu-west:queue:diagnostic"  # what cancel removes


@pytest.mark.parametrize("bad", ["EU-West", "eu_west", "-eu", "eu-", "", "x" * 64, 7])
def test_a_bad_region_is_refused_naming_the_field(bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_spec(spec(region=bad))
    assert [e["loc"][0] for e in caught.value.errors()] == ["region"]
    with pytest.raises(ValidationError, match="region"):
        Settings(region=bad)


def test_the_crd_checks_the_region_with_cel() -> None:
    version = build_crd()["spec"]["versions"][0]
    region = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["region"]
    assert region["maxLength"] == 63
    [rule] = region["x-kubernetes-validations"]
    assert rule == on_create(REGION_RULE)  # the spec is immutable: checked on create
    assert REGION_RULE["rule"] == "self.matches('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')"
    assert "spec.region" in rule["message"]
