"""The result cache's pure parts: the key, the policy, the plans it makes.

The key must not change with field order or a default spelled out, and must
change with the input, the type, the user and (ml_prediction) the model version.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from devskyy_agents.models import TaskType, parse_spec, serialized_input
from devskyy_operator.admission.limits import limit_problems
from devskyy_operator.cache.key import (
    KEY_FORMAT,
    CacheEntry,
    cache_key,
    lookup_key,
    model_ref,
    normalised_input,
    result_key,
    written_model,
)
from devskyy_operator.cache.policy import CachePolicy, cache_policy
from devskyy_operator.controller import decide as d
from devskyy_operator.controller import plan as p
from devskyy_operator.crd.conditions import get_condition
from devskyy_operator.crd.task_view import task_view_from_body
from devskyy_operator.settings import Settings
from tests.unit.factories import INPUTS, T0, body, job_body, job_condition, pod_body

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

DIAG = TaskType.DIAGNOSTIC
PREDICT = TaskType.ML_PREDICTION
CACHED = Settings(result_cache={"diagnostic": {"enabled": True, "ttl_seconds": 600}})


# ----------------------------------------------------------------- the key


def test_field_order_does_not_change_the_key() -> None:
    first = {"user_id": "alice", "sleep_seconds": 1.5, "result": {"a": 1, "b": [1, 2]}}
    reordered = {"result": {"b": [1, 2], "a": 1}, "sleep_seconds": 1.5, "user_id": "alice"}
    assert list(first) != list(reordered)
    assert cache_key(DIAG, first, None) == cache_key(DIAG, reordered, None)


def test_defaults_spelled_out_do_not_change_the_key() -> None:
    bare = {"user_id": "alice"}
    spelled = {"user_id": "alice", "sleep_seconds": 0.0, "exit_code": 0, "fail_attempts": 0,
               "result": {}}  # fmt: skip
    assert cache_key(DIAG, bare, None) == cache_key(DIAG, spelled, None)
    assert normalised_input(DIAG, bare) == normalised_input(DIAG, spelled)
    # JSON has one number type: 2 and 2.0 for a float field are one input.
    assert cache_key(DIAG, {**bare, "sleep_seconds": 2}, None) == cache_key(
        DIAG, {**bare, "sleep_seconds": 2.0}, None
    )


def test_the_key_is_a_sha256_of_canonical_json() -> None:
    key = cache_key(DIAG, {"user_id": "alice"}, None)
    assert len(key) == 64
    assert int(key, 16) >= 0


@pytest.mark.parametrize(
    "other",
    [
        {"user_id": "alice", "sleep_seconds": 1.0},  # another value
        {"user_id": "alice", "result": {"a": 2}},  # another nested value
        {"user_id": "bob", "result": {"a": 1}},  # another user: never shared
        {"user_id": "alice", "result": {"a": 1, "b": 1}},  # one more field
    ],
)
def test_a_different_input_changes_the_key(other: dict[str, Any]) -> None:
    base = {"user_id": "alice", "result": {"a": 1}}
    assert cache_key(DIAG, base, None) != cache_key(DIAG, other, None)


def sha256_of(material: dict[str, Any]) -> str:
    return hashlib.sha256(serialized_input(material).encode()).hexdigest()


def test_the_type_is_part_of_the_key() -> None:
    """No two types share an input model, so the type is shown in the hashed material:
    the same normalised input under another type name hashes differently."""
    raw = {"user_id": "alice"}
    material = {"format": KEY_FORMAT, "type": "diagnostic", "input": normalised_input(DIAG, raw)}
    assert cache_key(DIAG, raw, None) == sha256_of(material)
    assert sha256_of({**material, "type": "fashn_tryon"}) != cache_key(DIAG, raw, None)


def prediction(**fields: Any) -> dict[str, Any]:
    return {"type": "ml_prediction", "input": {**INPUTS["ml_prediction"], **fields}}


def test_a_new_model_version_changes_the_key() -> None:
    spec = parse_spec(prediction())
    assert lookup_key(spec, "20260101T000000000000Z-aaaaaaaa") != lookup_key(
        spec, "20260102T000000000000Z-bbbbbbbb"
    )


def test_an_unpinned_prediction_without_a_known_version_is_not_looked_up() -> None:
    assert lookup_key(parse_spec(prediction()), None) is None
    assert model_ref(parse_spec(prediction())) is not None


def test_a_pinned_prediction_uses_its_version_whatever_the_latest() -> None:
    pinned = parse_spec(prediction(model_version="v1"))
    assert lookup_key(pinned, "v2") == lookup_key(pinned, None) == lookup_key(pinned, "v1")
    # ... and shares the entry of an unpinned prediction while v1 is the latest.
    assert lookup_key(parse_spec(prediction()), "v1") == lookup_key(pinned, None)


def test_a_prediction_is_stored_under_the_version_its_output_names() -> None:
    spec = parse_spec(prediction())
    output = {"status": "success", "model_id": "trend_predictor",
              "result": {"predictions": [1], "model_version": "v7"}}  # fmt: skip
    assert result_key(spec, output) == lookup_key(spec, "v7")
    assert result_key(spec, {"status": "success", "result": {}}) is None
    assert written_model(spec, output) == ("trend_predictor", "v7")


def test_a_training_names_its_new_version_and_a_diagnostic_none() -> None:
    training = parse_spec({"type": "ml_training", "input": INPUTS["ml_training"]})
    output = {"status": "success", "model_id": "sentiment_analyzer",
              "result": {"model_version": "v9"}}  # fmt: skip
    assert written_model(training, output) == ("sentiment_analyzer", "v9")
    diag = parse_spec({"type": "diagnostic", "input": {"user_id": "alice"}})
    assert written_model(diag, {"result": {"model_version": "v9"}}) is None


def test_an_unreadable_entry_is_a_miss_and_age_is_checked_against_the_readers_ttl() -> None:
    assert CacheEntry.from_json("not json") is None
    assert CacheEntry.from_json('{"task_id": "x"}') is None
    entry = CacheEntry(task_id="t-1", result={"status": "success"}, stored_at=T0)
    assert CacheEntry.from_json(entry.to_json()) == entry
    assert entry.fresh(T0 + timedelta(seconds=60), 60)
    assert not entry.fresh(T0 + timedelta(seconds=61), 60)


# ----------------------------------------------------------------- the policy


def spec(task_type: str = "diagnostic", **extra: Any) -> Any:
    return parse_spec({"type": task_type, "input": dict(INPUTS[task_type]), **extra})


def test_off_by_default_and_on_per_type_or_per_task() -> None:
    assert cache_policy(spec(), Settings()) is None
    assert cache_policy(spec(), CACHED) == CachePolicy(600)
    assert cache_policy(spec(cache={"enabled": True}), Settings()) == CachePolicy(3600)
    assert cache_policy(spec(cache={"ttlSeconds": 30}), Settings()) == CachePolicy(30)
    assert cache_policy(spec(cache={"enabled": False}), CACHED) is None


@pytest.mark.parametrize("task_type", ["marketing_campaign", "generate_3d", "ml_training"])
def test_a_type_with_side_effects_refuses_the_opt_in_naming_the_field(task_type: str) -> None:
    opted = spec(task_type, cache={"enabled": True})
    assert cache_policy(opted, Settings()) is None
    (problem,) = limit_problems(opted, Settings(), T0)
    assert problem.field == "cache.enabled"
    assert f"type {task_type} has side effects" in problem.message
    assert f"result_cache.{task_type}.allow_side_effects" in problem.message
    allowed = Settings(result_cache={task_type: {"allow_side_effects": True}})
    assert limit_problems(opted, allowed, T0) == []
    assert cache_policy(opted, allowed) == CachePolicy(3600)


def test_a_type_with_side_effects_cannot_be_enabled_without_allowing_it() -> None:
    with pytest.raises(ValidationError, match="marketing_campaign: the type has side effects"):
        Settings(result_cache={"marketing_campaign": {"enabled": True}})
    Settings(result_cache={"marketing_campaign": {"enabled": True, "allow_side_effects": True}})


def test_every_task_type_has_its_setting_and_unknown_ones_are_refused() -> None:
    assert set(Settings().result_cache) == {t.value for t in TaskType}
    with pytest.raises(ValidationError, match="unknown task type"):
        Settings(result_cache={"nope": {"enabled": True}})


def test_a_ttl_above_the_types_maximum_is_refused() -> None:
    (problem,) = limit_problems(spec(cache={"ttlSeconds": 90_000}), Settings(), T0)
    assert problem.field == "cache.ttlSeconds"
    assert "at most 86400 s" in problem.message


def test_a_ttl_without_the_cache_is_refused_by_the_model() -> None:
    with pytest.raises(ValidationError, match="ttlSeconds applies only when enabled is true"):
        spec(cache={"enabled": False, "ttlSeconds": 10})
    with pytest.raises(ValidationError, match="extra"):
        spec(cache={"enabled": True, "ttl": 10})


# ----------------------------------------------------------------- the plans

OUTPUT = {"task_id": "first", "status": "success", "completed_at": "x", "result": {"ok": 1}}
ENDED = "2026-01-05T12:00:41Z"


def test_a_hit_succeeds_at_once_with_the_original_task_and_no_job() -> None:
    task = task_view_from_body(body("second"))
    entry = CacheEntry(task_id="first", result=OUTPUT, stored_at=T0)
    plan = d.served_from_cache(task, entry, T0 + timedelta(seconds=5))
    assert [type(r).__name__ for r in plan.records] == ["EnsureRecord", "MarkCompleted"]
    completed = plan.records[1]
    assert isinstance(completed, p.MarkCompleted)
    assert completed.cached_from == "first"
    assert plan.status is not None
    patch = plan.status.patch()
    assert (patch["phase"], patch["reason"], patch["cacheHit"], patch["cachedFrom"]) == (
        "Succeeded", "CacheHit", True, "first",
    )  # fmt: skip
    assert patch["result"] == OUTPUT
    assert patch["attempts"] == 0
    assert "jobName" not in patch
    assert get_condition(patch["conditions"], "Succeeded")["reason"] == "CacheHit"  # type: ignore[index]
    assert plan.after == (
        p.CountCacheHit("diagnostic"),
        p.TaskEnded("diagnostic", "alice", True, None),
    )


def test_only_a_new_task_within_the_limits_is_looked_up() -> None:
    assert d.lookup_policy(task_view_from_body(body()), CACHED) == CachePolicy(600)
    assert d.lookup_policy(task_view_from_body(body()), Settings()) is None
    assert d.lookup_policy(task_view_from_body(body(phase="Queued")), CACHED) is None
    over = body(cache={"ttlSeconds": 90_000})
    assert d.lookup_policy(task_view_from_body(over), CACHED) is None


def test_admission_looks_again_at_a_queued_task_never_at_a_running_one() -> None:
    queued = task_view_from_body(body(phase="Queued"))
    assert d.lookup_policy(queued, CACHED, admitting=True) == CachePolicy(600)
    running = task_view_from_body(body(phase="Running"))
    assert d.lookup_policy(running, CACHED, admitting=True) is None
    assert d.lookup_policy(queued, Settings(), admitting=True) is None


def finished(task_type: str, output: dict[str, Any], settings: Settings, **spec: Any) -> p.Plan:
    """The plan for task-1 (of `task_type`) whose Job completed with `output`."""
    raw = body("task-1", task_type, **spec)
    raw["status"] = {"phase": "Running", "jobName": "task-1", "attempts": 1}
    complete = job_condition("Complete", "CompletionsReached", "done", ENDED)
    status = {"conditions": [complete], "startTime": "2026-01-05T12:00:01Z",
              "completionTime": ENDED, "succeeded": 1}  # fmt: skip
    pod = pod_body("a", "2026-01-05T12:00:01Z", phase="Succeeded", exit_code=0,
                   message=json.dumps(output))  # fmt: skip
    return d.decide(task_view_from_body(raw), job_body(status), [pod], T0 + timedelta(minutes=1),
                    settings)  # fmt: skip


def test_a_cacheable_success_stores_its_output_for_its_ttl() -> None:
    plan = finished("diagnostic", OUTPUT, CACHED)
    stored = [r for r in plan.records if isinstance(r, p.StoreCachedResult)]
    assert len(stored) == 1
    (record,) = stored
    assert record.ttl_seconds == 600
    assert record.entry.task_id == "task-1"
    assert record.entry.result == OUTPUT
    assert record.digest == cache_key(DIAG, INPUTS["diagnostic"], None)


def test_a_task_that_is_not_cacheable_stores_nothing() -> None:
    plan = finished("diagnostic", OUTPUT, Settings())
    assert not [r for r in plan.records if isinstance(r, p.StoreCachedResult)]
    opted_out = finished("diagnostic", OUTPUT, CACHED, cache={"enabled": False})
    assert not [r for r in opted_out.records if isinstance(r, p.StoreCachedResult)]


def test_a_succeeded_training_records_its_model_version_cached_or_not() -> None:
    output = {"status": "success", "completed_at": "x", "model_id": "sentiment_analyzer",
              "result": {"model_version": "v9"}}  # fmt: skip
    plan = finished("ml_training", output, Settings())
    assert p.RecordModelVersion("sentiment_analyzer", "v9") in plan.records
    assert not [r for r in plan.records if isinstance(r, p.StoreCachedResult)]
