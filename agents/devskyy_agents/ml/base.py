"""What a trainable model module returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Trained:
    estimator: Any
    metrics: dict[str, float]
    epochs_completed: int
    training_samples: int
    extra_metrics: dict[str, Any] = field(default_factory=dict)
    per_class: dict[str, dict[str, float | int]] | None = None  # classifiers only
    metadata: dict[str, Any] = field(default_factory=dict)
