"""The result-cache key and entry (pure).

A key is the SHA-256 of canonical JSON (sorted keys, no whitespace) of the task
type and its NORMALISED input: parsed by the type's input model with its
defaults applied, so field order, an omitted default and the same default
spelled out all give one key. The input holds `user_id`, so results are never
shared between users. For ml_prediction the key holds the model version the
prediction uses (pinned, or the latest one the operator knows), not the input's
`model_version` as written: a new version changes the key, and a prediction
pinned to the latest version shares the entry of an unpinned one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError

from devskyy_agents.models import (
    MLPredictionInput,
    TaskSpec,
    TaskType,
    parse_input,
    serialized_input,
)

# Part of every key: a change of what a key means changes every key.
KEY_FORMAT = 1
# Types that predict with a stored model: their key holds its version.
VERSIONED_TYPES = frozenset({TaskType.ML_PREDICTION})
# Types whose successful result names a model version that is then the newest known.
MODEL_WRITING_TYPES = frozenset({TaskType.ML_TRAINING, TaskType.ML_PREDICTION})


def normalised_input(task_type: TaskType, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The input as its model reads it, defaults applied (JSON types)."""
    return parse_input(task_type, dict(raw)).model_dump(mode="json", by_alias=True)


def cache_key(task_type: TaskType, raw: Mapping[str, Any], model_version: str | None) -> str:
    """The hex SHA-256 key of a task type, its input and (ml_prediction) its model version."""
    task_input = normalised_input(task_type, raw)
    if task_type in VERSIONED_TYPES:
        task_input["model_version"] = model_version
    material = {"format": KEY_FORMAT, "type": task_type.value, "input": task_input}
    return hashlib.sha256(serialized_input(material).encode()).hexdigest()


@dataclass(frozen=True)
class ModelRef:
    """The model a prediction uses: the pinned version, or None for the latest."""

    model_id: str
    pinned: str | None


def model_ref(spec: TaskSpec) -> ModelRef | None:
    """The model whose version the key needs, None for a type without one."""
    if spec.type not in VERSIONED_TYPES:
        return None
    parsed = spec.parsed_input()
    assert isinstance(parsed, MLPredictionInput)
    return ModelRef(parsed.model_id, parsed.model_version)


def lookup_key(spec: TaskSpec, latest_version: str | None) -> str | None:
    """The key a new task looks up; None when its model version is unknown (an
    unpinned prediction before the operator has seen any version of the model)."""
    ref = model_ref(spec)
    if ref is None:
        return cache_key(spec.type, spec.input, None)
    version = ref.pinned or latest_version
    return None if version is None else cache_key(spec.type, spec.input, version)


def result_version(result: Mapping[str, Any] | None) -> str | None:
    """The model version a prediction's (or a training's) output says it used or wrote."""
    inner = (result or {}).get("result")
    version = inner.get("model_version") if isinstance(inner, Mapping) else None
    return version if isinstance(version, str) and version else None


def result_key(spec: TaskSpec, result: Mapping[str, Any] | None) -> str | None:
    """The key a succeeded task's result is stored under: for a prediction, the
    version its output says it used (the truth, whatever the lookup assumed)."""
    if result is None:
        return None
    if spec.type not in VERSIONED_TYPES:
        return cache_key(spec.type, spec.input, None)
    version = result_version(result)
    return None if version is None else cache_key(spec.type, spec.input, version)


def written_model(spec: TaskSpec, result: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """(model_id, version) a succeeded ML task names: the newest version known so far,
    unless a newer one is (versions sort by time, as the model store's)."""
    if spec.type not in MODEL_WRITING_TYPES:
        return None
    model_id = spec.input.get("model_id")
    version = result_version(result)
    return (model_id, version) if isinstance(model_id, str) and version else None


class CacheEntry(BaseModel):
    """What the cache holds under a key: the output of the task that ran."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str
    result: dict[str, JsonValue]
    stored_at: datetime

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | None) -> CacheEntry | None:
        """The entry, or None for a missing or unreadable one (a miss, never an error)."""
        if not text:
            return None
        try:
            return cls.model_validate_json(text)
        except ValidationError:
            return None

    def fresh(self, now: datetime, ttl_seconds: int) -> bool:
        """Young enough for a task that accepts results at most `ttl_seconds` old."""
        return (now - self.stored_at).total_seconds() <= ttl_seconds
