"""The CRD's CEL rules: they compile, and they agree with the models on good and bad tasks.

Needs cel-python and jsonschema from the dev extras.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import celpy
import jsonschema
import pytest
from pydantic import ValidationError

from devskyy_agents.models import MAX_INPUT_BYTES, TASK_ID_PATTERN, parse_spec, serialized_input
from devskyy_agents.safety import check_public_https_url, check_relative_path
from devskyy_operator.admission.limits import limit_problems
from devskyy_operator.crd.rules import NAME_RULE, PATH_RULES, URL_RULES, default_maxima
from devskyy_operator.settings import Settings
from tests.unit.cel_k8s import check, evaluate, message
from tests.unit.factories import INPUTS
from tests.unit.test_crd import INPUT, SCHEMA, SPEC, _nodes, _rules

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


def test_every_rule_compiles_and_has_a_message() -> None:
    env = celpy.Environment()
    for _, node in _nodes(SCHEMA):
        for rule in node.get("x-kubernetes-validations", []):
            env.compile(rule["rule"])
            assert rule.get("message")
    assert len(_rules()) > 20


def _spec_ok(spec: dict[str, Any], old: dict[str, Any] | None = None) -> bool:
    """Schema (jsonschema on the OpenAPI node) plus every CEL rule down to spec.input,
    on create (`old` None) or on an update from `old`."""
    try:
        jsonschema.Draft4Validator(SPEC).validate(spec)
    except jsonschema.ValidationError:
        return False
    if not all(check(r, spec, old) for r in SPEC["x-kubernetes-validations"]):
        return False
    old_input = (old or {}).get("input", {})
    for name, value in spec["input"].items():
        for rule in INPUT["properties"].get(name, {}).get("x-kubernetes-validations", []):
            if not check(rule, value, old_input.get(name)):
                return False
    return True


def _model_ok(spec: dict[str, Any]) -> bool:
    """The API's and the operator's door: the models, then the limits of the
    built-in settings (resource maxima, schedule horizon)."""
    try:
        parsed = parse_spec(spec)
    except ValidationError:
        return False
    return not limit_problems(parsed, Settings(), datetime.now(UTC))


@pytest.mark.parametrize("task_type", sorted(INPUTS))
def test_valid_specs_pass_both_doors(task_type: str) -> None:
    spec = {"type": task_type, "input": INPUTS[task_type], "priority": 5, "retries": 1}
    assert _model_ok(spec)
    assert _spec_ok(spec)


def _with(task_type: str, **changes: Any) -> dict[str, Any]:
    data = {**INPUTS[task_type], **changes}
    return {"type": task_type, "input": {k: v for k, v in data.items() if v is not None}}


BAD_SPECS = [
    _with("ml_training", prompt="mixing types"),
    _with("ml_training", training_data_path=None),
    _with("ml_training", training_data_path="/etc/passwd"),
    _with("ml_training", training_data_path="a/../../b.csv"),
    _with("ml_training", training_data_path=".."),
    _with("fashn_tryon", garment_image=None),
    _with("fashn_tryon", garment_image="http://cdn.example.com/g.jpg"),
    _with("fashn_tryon", model_image="https://169.254.169.254/latest/meta-data"),
    _with("generate_3d", prompt="  "),
    _with("generate_3d", image_url="https://user:pw@cdn.example.com/x.png"),
    _with("marketing_campaign", campaign_type="fax"),
    _with("diagnostic", exit_code=256),
    _with("diagnostic", user_id=""),
    {"type": "diagnostic", "input": INPUTS["diagnostic"], "timeoutSeconds": 0},
    {"type": "diagnostic", "input": INPUTS["diagnostic"], "retries": 11},
    {"type": "diagnostic", "input": INPUTS["diagnostic"], "priority": 1001},
    {"type": "diagnostic", "input": INPUTS["diagnostic"], "resources": {"limits": {"cpu": "lots"}}},
    {"type": "unknown", "input": INPUTS["diagnostic"]},
    _with("ml_training", training_data_path="datasets/%2e%2e/%2e%2e/etc/passwd"),
    _with("marketing_campaign", recipients=[]),
    _with("marketing_campaign", campaign_type="social", recipients=[]),
    # 300 recipients of 254 characters: over the input limit by what CEL can see.
    _with("marketing_campaign", campaign_type="seo", recipients=["p" * 254] * 300),
    {**_with("diagnostic"), "resources": {"requests": {"cpu": "1000000"}}},
    {**_with("diagnostic"), "resources": {"requests": {"memory": "999999999Gi"}}},
    {**_with("diagnostic"), "resources": {"limits": {"cpu": "1000000"}}},
    {**_with("ml_training"), "resources": {"limits": {"ephemeralStorage": "21Gi"}}},
]


# What CEL cannot see: a date-time field is a timestamp in CEL (no zone check), and a
# field without a declared type (input_data: object or list) is invisible to has().
MODEL_ONLY = [
    _with("marketing_campaign", schedule_at="2026-01-05T12:00:00"),
    _with("ml_prediction", input_data=None),
    # Free-form objects are invisible to CEL: the input size limit is the models'
    # (and so the operator's) there.
    _with("diagnostic", result={"x": "a" * 100_000}),
]


@pytest.mark.parametrize("spec", BAD_SPECS, ids=range(len(BAD_SPECS)))
def test_bad_specs_fail_both_doors(spec: dict[str, Any]) -> None:
    assert not _model_ok(spec)
    assert not _spec_ok(spec)


@pytest.mark.parametrize("spec", BAD_SPECS, ids=range(len(BAD_SPECS)))
def test_an_unchanged_spec_runs_only_the_immutability_rule_on_update(
    spec: dict[str, Any],
) -> None:
    """What a status write sees: the rules of a spec that cannot change stop at
    `oldSelf.hasValue()`, so even a spec a later CRD refuses stays writable;
    a changed spec is refused as immutable whatever else it is."""
    if jsonschema.Draft4Validator(SPEC).is_valid(spec):  # schema checks: the apiserver's ratcheting
        assert _spec_ok(spec, spec)
    changed = {**spec, "priority": 7 if spec.get("priority") != 7 else 8}
    (immutable, *guarded) = SPEC["x-kubernetes-validations"]
    assert not check(immutable, changed, spec)
    assert all(check(r, changed, spec) for r in guarded)


def test_every_rule_but_immutability_runs_on_create_only() -> None:
    """The task CRD's rules: the immutability rule unconditional, every other one
    (the name's included) guarded by `oldSelf.hasValue() ||` under optionalOldSelf."""
    rules = [r for _, n in _nodes(SCHEMA) for r in n.get("x-kubernetes-validations", [])]
    unguarded = [r for r in rules if not r.get("optionalOldSelf")]
    assert unguarded == [SPEC["x-kubernetes-validations"][0]]
    assert unguarded[0]["rule"] == "self == oldSelf"
    for rule in rules:
        if rule.get("optionalOldSelf"):
            assert rule["rule"].startswith("oldSelf.hasValue() || ("), rule
    assert len(rules) > 40


@pytest.mark.parametrize("spec", MODEL_ONLY, ids=range(len(MODEL_ONLY)))
def test_model_catches_what_cel_cannot(spec: dict[str, Any]) -> None:
    assert not _model_ok(spec)
    assert _spec_ok(spec)


def _largest(kind: str, task_type: str) -> str:
    return str(getattr(default_maxima()[task_type], f"{kind}_max"))


@pytest.mark.parametrize("task_type", sorted(INPUTS))
@pytest.mark.parametrize("part", ["requests", "limits"])
def test_resources_at_the_maximum_pass_and_above_it_fail_naming_it(
    task_type: str, part: str
) -> None:
    for field, kind in (("cpu", "cpu"), ("memory", "memory"), ("ephemeralStorage", "ephemeral")):
        maximum = _largest(kind, task_type)
        at = {**_with(task_type), "resources": {part: {field: maximum}}}
        assert _model_ok(at)
        assert _spec_ok(at), (task_type, field, maximum)
        over = f"{maximum}1" if maximum[-1].isdigit() else f"{maximum[:-2]}1{maximum[-2:]}"
        above = {**_with(task_type), "resources": {part: {field: over}}}
        (rule,) = [
            r for r in SPEC["x-kubernetes-validations"]
            if r.get("fieldPath") == f".resources.{part}.{field}"
        ]  # fmt: skip
        assert not check(rule, above)
        assert check(rule, above, above)  # an update of what exists: not re-checked
        assert message(rule["messageExpression"], above) == (
            f"must be at most {maximum} for type {task_type}"
        )


def test_cel_size_bound_never_refuses_what_the_model_accepts() -> None:
    """The recipients rule is a lower bound of the serialized input: a list the
    models accept (within 64 KiB serialized) passes it, also with non-ASCII."""
    within = _with("marketing_campaign", campaign_type="seo", recipients=["é" * 200] * 50)
    assert len(serialized_input(within["input"])) <= MAX_INPUT_BYTES
    assert _model_ok(within)
    assert _spec_ok(within)


def test_spec_is_immutable() -> None:
    rule = SPEC["x-kubernetes-validations"][0]
    assert rule["message"] == "spec is immutable; delete and re-create the task"
    assert "optionalOldSelf" not in rule
    old = _with("diagnostic")
    assert check(rule, old)  # a transition rule: not run on create
    assert check(rule, old, old)
    assert not check(rule, {**old, "priority": 999}, old)


URLS = [
    "https://cdn.example.com/a.jpg",
    "https://cdn.example.com:8443/a.jpg?x=1",
    "http://cdn.example.com/a.jpg",
    "ftp://cdn.example.com/a.jpg",
    "https://cdn.example.com:444/a.jpg",
    "https://user@cdn.example.com/a.jpg",
    "https://localhost/a.jpg",
    "https://LOCALHOST./a.jpg",
    "https://api.svc/a.jpg",
    "https://metadata.google.internal/",
    "https://kubernetes/",
    "https://printer.local/",
    "https:///nohost",
    "not a url",
]
# Address literals: the CRD refuses them all (DNS names only), whatever the range.
IP_URLS = [
    "https://8.8.8.8/a.jpg",
    "https://[2606:4700::1111]/a.jpg",
    "https://127.0.0.1/",
    "https://10.0.0.1/",
    "https://169.254.169.254/",
    "https://[::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://2130706433/",
    "https://0x7f.1/",
    "https://127.1/",
    "https://010.0.0.1/",
]


def _cel_accepts_url(url: str) -> bool:
    return all(evaluate(r["rule"], url) for r in URL_RULES)


@pytest.mark.parametrize("url", URLS)
def test_url_rules_agree_with_the_model(url: str) -> None:
    try:
        check_public_https_url(url)
        model = True
    except ValueError:
        model = False
    assert _cel_accepts_url(url) == model


@pytest.mark.parametrize("url", IP_URLS)
def test_url_rules_refuse_address_literals(url: str) -> None:
    assert not _cel_accepts_url(url)


@pytest.mark.parametrize(
    "path",
    [
        "data.csv",
        "a/b/c.parquet",
        "a..b/c.csv",
        "/abs.csv",
        "../x.csv",
        "a/../b",
        "a/..",
        "~/x",
        "a\\b",
        "datasets/%2e%2e/%2e%2e/etc/passwd",
        "a%2fb.csv",
    ],
)
def test_path_rules_agree_with_the_model(path: str) -> None:
    try:
        check_relative_path(path)
        model = True
    except ValueError:
        model = False
    assert all(evaluate(r["rule"], path) for r in PATH_RULES) == model


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("task-1", True),
        ("a", True),
        ("a" * 52, True),
        ("a" * 53, False),
        ("Task", False),
        ("-a", False),
        ("a-", False),
        ("a.b", False),
    ],
)
def test_name_rule_matches_task_id_pattern(name: str, ok: bool) -> None:
    assert evaluate(NAME_RULE["rule"], {"metadata": {"name": name}}) is ok
    assert bool(re.match(TASK_ID_PATTERN, name)) is ok
