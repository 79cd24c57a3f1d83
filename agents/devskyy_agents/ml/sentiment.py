"""sentiment_analyzer: text -> label with TF-IDF + a linear classifier trained by SGD.

Features are hashed rather than looked up in a vocabulary: a 10^5-entry
vocabulary dict takes minutes to write in skops, a hashing vectorizer has no
state (so every row is hashed once, whatever the splits).

Data: columns `text` and `label` (or `sentiment`). Rows are split three ways
(stratified): test rows (`test_size`) measure the figures in the result;
validation rows (`validation_size` of the rest) pick the epoch; the remaining
rows are trained on. `epochs` is an upper bound: after every pass the model is
scored (macro-F1) on the validation rows and the best pass is kept, stopping
after `n_iter_no_change` passes without improvement (early_stopping.py says
why). Then, unless `refit` is false, the stored model is refit on every row
for the chosen number of passes: the test figures estimate it (from less
data, so if anything they understate it), and no labelled row is wasted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from devskyy_agents.errors import InvalidTaskInput
from devskyy_agents.ml.base import Trained
from devskyy_agents.ml.data import Hyper, require_columns
from devskyy_agents.ml.early_stopping import sgd_epochs
from devskyy_agents.ml.metrics import classification_metrics, per_class_metrics


def _label_column(frame: pd.DataFrame) -> str:
    for name in ("label", "sentiment"):
        if name in frame.columns:
            return name
    raise InvalidTaskInput("sentiment data needs a `label` (or `sentiment`) column")


def _split(
    rows: np.ndarray[Any, Any], y: np.ndarray[Any, Any], size: float, seed: int, what: str
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    try:
        kept, held = train_test_split(rows, test_size=size, stratify=y[rows], random_state=seed)
    except ValueError as exc:  # a label too rare to appear on both sides
        raise InvalidTaskInput(
            f"sentiment data: too few rows of a label for {what}: {exc}"
        ) from None
    return kept, held


def train(frame: pd.DataFrame, hyper: Hyper, epochs: int, seed: int) -> Trained:
    require_columns(frame, ["text"], "sentiment data")
    label = _label_column(frame)
    data = frame[["text", label]].dropna()
    y = data[label].astype(str).to_numpy()
    if len(set(y)) < 2:
        raise InvalidTaskInput("sentiment data needs at least two labels")
    test_size = hyper.number("test_size", 0.2, 0.05, 0.5)
    validation_size = hyper.number("validation_size", 0.2, 0.05, 0.5)
    patience = hyper.integer("n_iter_no_change", 5, 1, 1000)
    refit = hyper.flag("refit", True)
    hasher = HashingVectorizer(
        ngram_range=(1, hyper.integer("max_ngram", 2, 1, 3)),
        n_features=2 ** hyper.integer("hash_bits", 18, 10, 22),
        alternate_sign=False,
        norm=None,
    )
    template = SGDClassifier(loss="log_loss", alpha=hyper.number("alpha", 1e-5, 1e-8, 1.0))
    hashed = hasher.transform(data["text"].astype(str))
    rows = np.arange(len(y))
    fit_rows, test_rows = _split(rows, y, test_size, seed, "test_size")
    train_rows, val_rows = _split(fit_rows, y, validation_size, seed, "validation_size")

    tfidf = TfidfTransformer(sublinear_tf=True).fit(hashed[train_rows])
    run = sgd_epochs(
        template, tfidf.transform(hashed[train_rows]), y[train_rows], epochs, seed,
        validation=(tfidf.transform(hashed[val_rows]), y[val_rows]), patience=patience,
    )  # fmt: skip
    predicted = run.classifier.predict(tfidf.transform(hashed[test_rows]))
    classes = [str(c) for c in run.classifier.classes_]
    metrics = classification_metrics(y[test_rows], predicted)
    per_class = per_class_metrics(y[test_rows], predicted, classes)

    stored_rows = train_rows
    if refit:
        stored_rows = rows
        tfidf = TfidfTransformer(sublinear_tf=True).fit(hashed)
        run_all = sgd_epochs(template, tfidf.transform(hashed), y, run.best_epoch, seed)
        classifier = run_all.classifier
    else:
        classifier = run.classifier
    pipeline = Pipeline([("hash", hasher), ("tfidf", tfidf), ("clf", classifier)])
    return Trained(
        estimator=pipeline,
        metrics=metrics,
        epochs_completed=run.epochs_run,
        training_samples=len(stored_rows),
        per_class=per_class,
        extra_metrics={
            "test_samples": len(test_rows),
            "validation_samples": len(val_rows),
            "evaluated_model_training_samples": len(train_rows),
            "best_epoch": run.best_epoch,
            "validation_macro_f1": round(max(run.validation_macro_f1), 4),
            "refit_on_all_rows": refit,
            "classes": classes,
        },
        metadata={
            "input_columns": ["text"],
            "classes": classes,
            "validation_macro_f1_per_epoch": [round(v, 4) for v in run.validation_macro_f1],
        },
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
