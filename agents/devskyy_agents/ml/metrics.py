"""Classification metrics in the seed's shape (macro averages over classes), and per class."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support


def classification_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """The seed's four figures; precision, recall and f1_score are macro averages
    (the unweighted mean over classes, so a class the model never predicts pulls
    them down however rare it is)."""
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average="macro", zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1_score": float(f1),
    }


def per_class_metrics(
    y_true: Any, y_pred: Any, labels: Sequence[Any]
) -> dict[str, dict[str, float | int]]:
    """Precision, recall, F1, support and how often each label was predicted: the
    last one shows a class the model has given up on (e.g. 8 of 379 neutral)."""
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(labels), average=None, zero_division=0
    )
    predicted = np.asarray(y_pred)
    return {
        str(label): {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1_score": float(f1[i]),
            "support": int(support[i]),
            "predicted": int(np.sum(predicted == label)),
        }
        for i, label in enumerate(labels)
    }
