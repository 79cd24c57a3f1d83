"""The result-cache key of a task: what must be equal for a stored result to
answer it (#16.3, first step: the key only; nothing reads or writes a cache yet).

Equal means: the same task type and the same *normalised* input — validated by
the type's input model, so defaults are filled in and field order, ``1`` vs
``1.0`` and other spellings of the same value do not matter — and, for
predictions, the same model version (a new version of the model gives a new key,
also when the task asks for "latest"). Fields that do not change a result
(priority, timeout, retries, resources) are not in it; ``user_id`` is, so one
user's result never answers another user's task.
"""

from __future__ import annotations

import hashlib

from devskyy_agents.models import TaskSpec, TaskType, parse_input, serialized_input


def cache_key(spec: TaskSpec, model_version: str | None = None) -> str:
    """A hex digest of the type, the normalised input and the model version.

    `model_version` is the version a prediction would use: the pinned
    ``input.model_version``, or (for "latest") the current version of the model,
    which the caller looks up. A prediction without either has no key.
    """
    normalised = parse_input(spec.type, spec.input).model_dump(mode="json")
    if spec.type is TaskType.ML_PREDICTION:
        version = normalised.get("model_version") or model_version
        if not version:
            raise ValueError("a prediction's cache key needs the model version it would use")
        normalised["model_version"] = version
    material = f"{spec.type.value}\n{serialized_input(normalised)}"
    return hashlib.sha256(material.encode()).hexdigest()
