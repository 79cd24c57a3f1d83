"""The result-cache key: field order and defaults do not change it; a new model
version, another input or another user does."""

from __future__ import annotations

from typing import Any

import pytest

from devskyy_agents.models import parse_spec
from devskyy_operator.admission.result_cache_key import cache_key

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


def spec(task_type: str, priority: int = 100, **task_input: Any) -> Any:
    return parse_spec({"type": task_type, "priority": priority, "input": task_input})


def prediction(**extra: Any) -> Any:
    records = [{"sku": "a", "price": 10}]
    return spec(
        "ml_prediction", user_id="alice", model_id="trend_predictor", input_data=records, **extra
    )


def test_field_order_and_spelling_do_not_change_the_key() -> None:
    one = spec("diagnostic", user_id="alice", sleep_seconds=1, result={"a": 1, "b": [1, 2]})
    other = parse_spec(
        {
            "input": {"result": {"b": [1, 2], "a": 1}, "sleep_seconds": 1.0, "user_id": "alice"},
            "type": "diagnostic",
        }
    )
    assert cache_key(one) == cache_key(other)


def test_defaults_given_or_left_out_give_the_same_key() -> None:
    bare = spec("diagnostic", user_id="alice")
    explicit = spec("diagnostic", user_id="alice", sleep_seconds=0, exit_code=0, result={})
    assert cache_key(bare) == cache_key(explicit)


def test_what_does_not_change_the_result_is_not_in_the_key() -> None:
    assert cache_key(spec("diagnostic", 5, user_id="alice")) == cache_key(
        spec("diagnostic", 900, user_id="alice")
    )


def test_another_input_user_or_type_changes_the_key() -> None:
    base = cache_key(spec("diagnostic", user_id="alice", sleep_seconds=1))
    assert base != cache_key(spec("diagnostic", user_id="alice", sleep_seconds=2))
    assert base != cache_key(spec("diagnostic", user_id="bob", sleep_seconds=1))
    assert base != cache_key(spec("diagnostic", user_id="alice", sleep_seconds=1, result={"x": 1}))


def test_a_new_model_version_changes_a_predictions_key() -> None:
    latest_v1 = cache_key(prediction(), model_version="v1")
    assert latest_v1 == cache_key(prediction(), model_version="v1")
    assert latest_v1 != cache_key(prediction(), model_version="v2")
    # Pinning the version the latest resolves to is the same request.
    assert latest_v1 == cache_key(prediction(model_version="v1"))
    assert cache_key(prediction(model_version="v1"), model_version="v9") == latest_v1
    with pytest.raises(ValueError, match="model version"):
        cache_key(prediction())
