"""trend_predictor: will the series go up or down next period?

Data: a `value` column in time order (sorted by `date` when present). Features
are the last `lags` relative changes plus the position inside the recent range;
the target is the sign of the next change, so accuracy/precision/recall/F1 are
those of an up/down call. The test split is the most recent `test_size` share
(chronological, stratification would leak the future into training).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

from devskyy_agents.errors import InvalidTaskInput
from devskyy_agents.ml.base import Trained
from devskyy_agents.ml.data import Hyper, require_columns
from devskyy_agents.ml.metrics import classification_metrics


def features(values: np.ndarray[Any, Any], lags: int) -> np.ndarray[Any, Any]:
    """One row per position t >= lags: diffs of the window ending at t, scaled."""
    rows = []
    for t in range(lags, len(values)):
        window = values[t - lags : t + 1]
        scale = float(np.std(window)) or 1.0
        diffs = np.diff(window) / scale
        low, high = float(window.min()), float(window.max())
        position = (window[-1] - low) / (high - low) if high > low else 0.5
        rows.append(np.concatenate([diffs, [position]]))
    return np.asarray(rows, dtype=float)


def train(frame: pd.DataFrame, hyper: Hyper, epochs: int, seed: int) -> Trained:
    require_columns(frame, ["value"], "trend data")
    if "date" in frame.columns:
        frame = frame.sort_values("date")
    values = pd.to_numeric(frame["value"], errors="coerce").interpolate().dropna().to_numpy()
    lags = hyper.integer("lags", 8, 2, 64)
    if len(values) < lags + 20:
        raise InvalidTaskInput(f"trend data needs at least {lags + 20} values")
    x = features(values, lags)[:-1]
    y = np.where(np.diff(values)[lags:] > 0, "up", "down")
    split = int(len(x) * (1 - hyper.number("test_size", 0.2, 0.05, 0.5)))
    model = RandomForestClassifier(
        n_estimators=hyper.integer("n_estimators", 200, 10, 2000),
        max_depth=hyper.integer("max_depth", 8, 1, 64),
        min_samples_leaf=hyper.integer("min_samples_leaf", 2, 1, 100),
        random_state=seed,
        n_jobs=None,  # joblib's parallel_config: WORKER_THREADS (module.worker_threads)
    )
    model.fit(x[:split], y[:split])
    metrics = classification_metrics(y[split:], model.predict(x[split:]))
    majority = float(max(np.mean(y[split:] == "up"), np.mean(y[split:] == "down")))
    return Trained(
        estimator=model,
        metrics=metrics,
        epochs_completed=1,
        training_samples=split,
        extra_metrics={"test_samples": len(x) - split, "majority_baseline": majority},
        metadata={"input_columns": ["values"], "lags": lags},
    )


def predict(estimator: Any, metadata: dict[str, Any], records: list[dict[str, Any]]) -> list[Any]:
    lags = int(metadata["lags"])
    rows = []
    for i, record in enumerate(records):
        series = record.get("values")
        if (
            not isinstance(series, list)
            or len(series) < lags + 1
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in series)
        ):
            raise InvalidTaskInput(f"input_data[{i}].values must be >= {lags + 1} numbers")
        rows.append(features(np.asarray(series[-(lags + 1) :], dtype=float), lags)[0])
    matrix = np.asarray(rows)
    # One pass: the class with the highest probability is what predict() returns.
    proba = estimator.predict_proba(matrix)
    labels = estimator.classes_[proba.argmax(axis=1)]
    scores = proba.max(axis=1)
    return [
        {"direction": str(d), "probability": round(float(p), 4)}
        for d, p in zip(labels, scores, strict=True)
    ]
