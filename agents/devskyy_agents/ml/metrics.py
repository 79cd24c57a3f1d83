"""Classification metrics in the seed's shape (macro averages over classes)."""

from __future__ import annotations

from typing import Any

from sklearn.metrics import accuracy_score, precision_recall_fscore_support


def classification_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average="macro", zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1_score": float(f1),
    }
