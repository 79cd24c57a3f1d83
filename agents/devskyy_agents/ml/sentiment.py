"""sentiment_analyzer: text -> label with TF-IDF + a linear classifier trained by SGD.

Features are hashed rather than looked up in a vocabulary: a 10^5-entry
vocabulary dict takes minutes to write in skops, a hashing vectorizer has no state.

Data: columns `text` and `label` (or `sentiment`). SGD runs exactly `epochs`
passes (tol=None), so the epochs of the task are the epochs trained.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from devskyy_agents.errors import InvalidTaskInput
from devskyy_agents.ml.base import Trained
from devskyy_agents.ml.data import Hyper, require_columns
from devskyy_agents.ml.metrics import classification_metrics


def _label_column(frame: pd.DataFrame) -> str:
    for name in ("label", "sentiment"):
        if name in frame.columns:
            return name
    raise InvalidTaskInput("sentiment data needs a `label` (or `sentiment`) column")


def train(frame: pd.DataFrame, hyper: Hyper, epochs: int, seed: int) -> Trained:
    require_columns(frame, ["text"], "sentiment data")
    label = _label_column(frame)
    data = frame[["text", label]].dropna()
    texts, labels = data["text"].astype(str), data[label].astype(str)
    if labels.nunique() < 2:
        raise InvalidTaskInput("sentiment data needs at least two labels")
    x_train, x_test, y_train, y_test = train_test_split(
        texts,
        labels,
        test_size=hyper.number("test_size", 0.2, 0.05, 0.5),
        stratify=labels,
        random_state=seed,
    )
    pipeline = Pipeline(
        [
            (
                "hash",
                HashingVectorizer(
                    ngram_range=(1, hyper.integer("max_ngram", 2, 1, 3)),
                    n_features=2 ** hyper.integer("hash_bits", 18, 10, 22),
                    alternate_sign=False,
                    norm=None,
                ),
            ),
            ("tfidf", TfidfTransformer(sublinear_tf=True)),
            (
                "clf",
                SGDClassifier(
                    loss="log_loss",
                    alpha=hyper.number("alpha", 1e-5, 1e-8, 1.0),
                    max_iter=epochs,
                    tol=None,
                    class_weight="balanced",
                    random_state=seed,
                ),
            ),
        ]
    )
    pipeline.fit(x_train, y_train)
    metrics = classification_metrics(y_test, pipeline.predict(x_test))
    classes = [str(c) for c in pipeline.classes_]
    return Trained(
        estimator=pipeline,
        metrics=metrics,
        epochs_completed=int(pipeline.named_steps["clf"].n_iter_),
        training_samples=len(x_train),
        extra_metrics={"test_samples": len(x_test), "classes": classes},
        metadata={"input_columns": ["text"], "classes": classes},
    )


def predict(estimator: Any, metadata: dict[str, Any], records: list[dict[str, Any]]) -> list[Any]:
    texts = []
    for i, record in enumerate(records):
        text = record.get("text")
        if not isinstance(text, str):
            raise InvalidTaskInput(f"input_data[{i}].text must be a string")
        texts.append(text)
    # One pass: the class with the highest probability is what predict() returns.
    proba = estimator.predict_proba(texts)
    labels = estimator.classes_[proba.argmax(axis=1)]
    scores = proba.max(axis=1)
    return [
        {"label": str(lab), "score": round(float(s), 4)}
        for lab, s in zip(labels, scores, strict=True)
    ]
