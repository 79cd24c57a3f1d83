"""TaskView, CR, Job and pod body builders shared by the unit tests (shaped like a
1.34 apiserver returns them)."""

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


def job_condition(type: str, reason: str, message: str, at: str) -> dict[str, Any]:
    """A True condition of a batch/v1 Job, as the Job controller writes it."""
    return {
        "type": type,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": at,
        "lastTransitionTime": at,
    }


def job_body(status: dict[str, Any], owner_uid: str = "uid-task-1") -> dict[str, Any]:
    """The Job of `body("task-1")` (owned by it unless `owner_uid` says otherwise)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "task-1",
            "namespace": "tasks",
            "uid": "0f6c3a47-2b3e-4c4e-9d55-1a2b3c4d5e6f",
            "generation": 1,
            "labels": {"devskyy.io/task-id": "task-1"},
            "ownerReferences": [
                {
                    "apiVersion": "devskyy.io/v1alpha1",
                    "kind": "DevSkyyTask",
                    "name": "task-1",
                    "uid": owner_uid,
                    "controller": True,
                }
            ],
        },
        "spec": {"backoffLimit": 2, "activeDeadlineSeconds": 300, "completions": 1},
        "status": status,
    }


def pod_body(
    suffix: str,
    created: str,
    *,
    phase: str,
    exit_code: int | None = None,
    message: str | None = None,
    node: str | None = "node-a",
) -> dict[str, Any]:
    state: dict[str, Any]
    if exit_code is None:
        state = {"running": {"startedAt": created}}
    else:
        terminated: dict[str, Any] = {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "startedAt": created,
            "finishedAt": created,
            "containerID": f"containerd://{suffix}",
        }
        if message is not None:
            terminated["message"] = message
        state = {"terminated": terminated}
    spec: dict[str, Any] = {
        "containers": [{"name": "task", "image": "img"}],
        "restartPolicy": "Never",
    }
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"task-1-{suffix}",
            "namespace": "tasks",
            "creationTimestamp": created,
            "labels": {"batch.kubernetes.io/job-name": "task-1", "job-name": "task-1"},
        },
        "spec": spec,
        "status": {
            "phase": phase,
            "startTime": created,
            "containerStatuses": [
                {
                    "name": "task",
                    "image": "img",
                    "imageID": "",
                    "ready": exit_code is None and phase == "Running",
                    "restartCount": 0,
                    "started": exit_code is None,
                    "state": state,
                    "lastState": {},
                }
            ],
        },
    }
