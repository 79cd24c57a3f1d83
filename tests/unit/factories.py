"""TaskView and CR body builders shared by the unit tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from devskyy_operator.crd.task_view import TaskView, task_view_from_body

T0 = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)

INPUTS: dict[str, dict[str, Any]] = {
    "generate_3d": {"user_id": "alice", "prompt": "a black hoodie"},
    "fashn_tryon": {
        "user_id": "alice",
        "model_image": "https://cdn.example.com/model.jpg",
        "garment_image": "https://cdn.example.com/garment.jpg",
    },
    "marketing_campaign": {
        "user_id": "alice",
        "campaign_id": "spring-drop",
        "campaign_type": "email",
        "recipients": ["a@example.com"],
    },
    "ml_training": {
        "user_id": "alice",
        "model_id": "sentiment_analyzer",
        "training_data_path": "reviews/2026.csv",
    },
    "ml_prediction": {
        "user_id": "alice",
        "model_id": "trend_predictor",
        "input_data": {"sku": "tee-1"},
    },
    "diagnostic": {"user_id": "alice"},
}


def body(
    name: str = "task-1",
    task_type: str = "diagnostic",
    *,
    input: dict[str, Any] | None = None,
    created: str = "2026-01-05T12:00:00Z",
    phase: str | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A DevSkyyTask as the apiserver returns it."""
    result: dict[str, Any] = {
        "apiVersion": "devskyy.io/v1alpha1",
        "kind": "DevSkyyTask",
        "metadata": {
            "name": name,
            "namespace": "tasks",
            "uid": f"uid-{name}",
            "generation": 1,
            "creationTimestamp": created,
            "annotations": annotations or {},
        },
        "spec": {"type": task_type, "input": input or dict(INPUTS[task_type]), **spec},
    }
    if phase is not None:
        result["status"] = {"phase": phase}
    return result


def view(name: str = "task-1", task_type: str = "diagnostic", **kwargs: Any) -> TaskView:
    return task_view_from_body(body(name, task_type, **kwargs))
