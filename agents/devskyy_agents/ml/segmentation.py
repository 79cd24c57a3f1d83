"""customer_segmentation: KMeans over standardised numeric columns.

Clustering has no labels, so its quality is the silhouette score and segment
sizes (extra_metrics). When the data carries a `label` column (a known grouping,
e.g. customer tier), the held-out rows are scored against it after matching
clusters to labels (Hungarian assignment) and the seed's accuracy/precision/
recall/F1 are filled; without one they are 0.0 and `labels_available` is false.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from devskyy_agents.errors import InvalidTaskInput
from devskyy_agents.ml.base import Trained
from devskyy_agents.ml.data import Hyper, require_columns
from devskyy_agents.ml.metrics import classification_metrics


def _matched(clusters: np.ndarray[Any, Any], labels: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Map each cluster to the label it overlaps most (one-to-one where possible)."""
    names = np.unique(labels)
    counts = np.array(
        [
            [np.sum((clusters == c) & (labels == n)) for n in names]
            for c in range(int(clusters.max()) + 1)
        ]
    )
    rows, cols = linear_sum_assignment(-counts)
    mapping = {int(r): names[c] for r, c in zip(rows, cols, strict=True)}
    fallback = {c: names[int(np.argmax(counts[c]))] for c in range(len(counts))}
    return np.array([mapping.get(int(c), fallback[int(c)]) for c in clusters])


def train(frame: pd.DataFrame, hyper: Hyper, epochs: int, seed: int) -> Trained:
    chosen = hyper.text_list("features")
    if chosen:
        require_columns(frame, chosen, "hyperparameters.features")
        text = [c for c in chosen if not pd.api.types.is_numeric_dtype(frame[c])]
        if text:
            raise InvalidTaskInput(f"hyperparameters.features: column(s) {text} are not numeric")
    columns = chosen or [
        c for c in frame.columns if c != "label" and pd.api.types.is_numeric_dtype(frame[c])
    ]
    if not columns:
        raise InvalidTaskInput("segmentation data needs numeric feature columns")
    data = frame.dropna(subset=columns)
    labels = data["label"].astype(str).to_numpy() if "label" in data.columns else None
    x = data[columns].to_numpy(dtype=float)
    test_size = hyper.number("test_size", 0.2, 0.05, 0.5)
    if labels is not None:
        x_train, x_test, _, y_test = train_test_split(
            x, labels, test_size=test_size, stratify=labels, random_state=seed
        )
    else:
        x_train, x_test = train_test_split(x, test_size=test_size, random_state=seed)
        y_test = None
    k = hyper.integer("n_clusters", len(np.unique(labels)) if labels is not None else 4, 2, 100)
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "kmeans",
                KMeans(
                    n_clusters=k,
                    n_init=hyper.integer("n_init", 10, 1, 100),
                    max_iter=hyper.integer("max_iter", 300, 10, 10_000),
                    random_state=seed,
                ),
            ),
        ]
    )
    pipeline.fit(x_train)
    test_clusters = pipeline.predict(x_test)
    scaled = pipeline.named_steps["scale"].transform(x_train)
    train_clusters = pipeline.named_steps["kmeans"].labels_
    sizes = np.bincount(train_clusters, minlength=k)
    metrics = {"accuracy": 0.0, "precision": 0.0, "recall": 0.0, "f1_score": 0.0}
    if y_test is not None:
        metrics = classification_metrics(y_test, _matched(test_clusters, y_test))
    return Trained(
        estimator=pipeline,
        metrics=metrics,
        epochs_completed=int(pipeline.named_steps["kmeans"].n_iter_),
        training_samples=len(x_train),
        extra_metrics={
            "silhouette": round(float(silhouette_score(scaled, train_clusters)), 4),
            "segment_sizes": [int(s) for s in sizes],
            "inertia": float(pipeline.named_steps["kmeans"].inertia_),
            "n_clusters": k,
            "labels_available": y_test is not None,
        },
        metadata={"input_columns": columns},
    )


def predict(estimator: Any, metadata: dict[str, Any], records: list[dict[str, Any]]) -> list[Any]:
    columns: list[str] = metadata["input_columns"]
    rows = []
    for i, record in enumerate(records):
        missing = [c for c in columns if c not in record]
        if missing:
            raise InvalidTaskInput(f"input_data[{i}] lacks column(s) {missing}")
        values = [record[c] for c in columns]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise InvalidTaskInput(f"input_data[{i}]: feature values must be numbers")
        rows.append(values)
    segments = estimator.predict(np.asarray(rows, dtype=float))
    return [{"segment": int(s)} for s in segments]
