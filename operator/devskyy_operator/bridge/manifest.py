"""Pure: the DevSkyyTask a claimed task becomes, and whether an existing one is it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from devskyy_operator import keys
from devskyy_operator.job.builder import label_value
from devskyy_operator.redisq.claim import ClaimedTask

SOURCE_API = "api"


def crd_spec(spec_json: str) -> dict[str, Any]:
    """The enqueued spec (TaskSpec by alias) without top-level nulls.

    The CRD has no nullable fields; an absent field means "the type default",
    exactly what null meant in the model.
    """
    raw = json.loads(spec_json) if spec_json else {}
    if not isinstance(raw, dict):
        return {}
    return {name: value for name, value in raw.items() if value is not None}


def build_task_resource(task: ClaimedTask) -> dict[str, Any]:
    """The CR the bridge creates: name = task id, enqueue time for FIFO admission,
    the user tier as a label (only the bridge sets it from the API's record;
    `admission.tiers` says who else is trusted to)."""
    labels = {
        keys.LABEL_TASK_TYPE: label_value(task.task_type),
        keys.LABEL_USER: label_value(task.user_id),
    }
    if task.tier:
        labels[keys.LABEL_TIER] = task.tier
    return {
        "apiVersion": keys.API_VERSION,
        "kind": keys.KIND,
        "metadata": {
            "name": task.task_id,
            "labels": labels,
            "annotations": {
                keys.ANNOTATION_SOURCE: SOURCE_API,
                keys.ANNOTATION_ENQUEUED_AT: task.created_at,
            },
        },
        "spec": crd_spec(task.spec_json),
    }


def same_task(existing: Mapping[str, Any], task: ClaimedTask) -> bool:
    """Is the resource that already holds this name the task we were creating?

    Yes when a bridge made it from this very queue entry (source api and the same
    enqueue time), or when its spec is the one we would have sent.
    """
    annotations: Mapping[str, Any] = (existing.get("metadata") or {}).get("annotations") or {}
    if (
        annotations.get(keys.ANNOTATION_SOURCE) == SOURCE_API
        and task.created_at
        and annotations.get(keys.ANNOTATION_ENQUEUED_AT) == task.created_at
    ):
        return True
    return bool(existing.get("spec") == crd_spec(task.spec_json))
