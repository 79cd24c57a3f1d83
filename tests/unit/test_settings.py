"""Settings: the per-type maps always hold every task type; bad keys are named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from devskyy_agents.models import TaskType
from devskyy_operator.settings import ResourceDefaults, Settings

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

DEFAULTS = Settings.model_construct()  # the declared defaults, no environment


def test_one_variable_changes_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """DEVSKYY_CONCURRENCY__DIAGNOSTIC=1 alone used to drop every other type's entry."""
    monkeypatch.setenv("DEVSKYY_CONCURRENCY__DIAGNOSTIC", "1")
    monkeypatch.setenv("DEVSKYY_IMAGES__DIAGNOSTIC", "registry.example/diag:1")
    monkeypatch.setenv("DEVSKYY_RESOURCES__ML_TRAINING__CPU_LIMIT", "3")
    settings = Settings()
    assert settings.concurrency == DEFAULTS.concurrency | {"diagnostic": 1}
    assert settings.images == DEFAULTS.images | {"diagnostic": "registry.example/diag:1"}
    trained = settings.resources_for(TaskType.ML_TRAINING)
    assert trained == DEFAULTS.resources["ml_training"].model_copy(update={"cpu_limit": "3"})
    assert settings.resources_for(TaskType.GENERATE_3D) == DEFAULTS.resources["generate_3d"]


def test_every_type_has_an_entry_in_every_map() -> None:
    names = {t.value for t in TaskType}
    for settings in (DEFAULTS, Settings(concurrency={"ml_training": 0})):
        assert set(settings.concurrency) == names
        assert set(settings.images) == names
        assert set(settings.resources) == names
    assert Settings(concurrency={"ml_training": 0}).concurrency["ml_training"] == 0


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("concurrency", {"ml_trainig": 2}, "ml_trainig"),
        ("images", {"3d": "x"}, "3d"),
        ("concurrency", {"diagnostic": -1}, "diagnostic"),
        ("resources", {"diagnostic": {"cpu_limt": "2"}}, "cpu_limt"),
    ],
)
def test_bad_per_type_values_are_refused_by_name(field: str, value: object, named: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(**{field: value})
    assert named in str(caught.value)


def test_resource_defaults_are_complete_models() -> None:
    assert all(isinstance(r, ResourceDefaults) for r in DEFAULTS.resources.values())


def test_retry_oom_holds_every_type_and_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DEFAULTS.retry_oom == {t.value: False for t in TaskType}
    monkeypatch.setenv("DEVSKYY_RETRY_OOM__ML_TRAINING", "true")
    settings = Settings()
    assert settings.retries_oom(TaskType.ML_TRAINING) is True
    assert settings.retries_oom(TaskType.DIAGNOSTIC) is False
    with pytest.raises(ValidationError, match="ml_trainig"):
        Settings(retry_oom={"ml_trainig": True})
