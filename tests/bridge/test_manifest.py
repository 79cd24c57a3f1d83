"""The CR a claimed task becomes, and the 409 "same task?" decision: pure."""

from __future__ import annotations

import pytest

from devskyy_operator import keys
from devskyy_operator.bridge.manifest import build_task_resource, crd_spec, same_task
from devskyy_operator.redisq.claim import ClaimedTask

pytestmark = [pytest.mark.unit, pytest.mark.timeout(10)]

SPEC = '{"type":"diagnostic","input":{"user_id":"Bob Smith@x.io"},"priority":7,"retries":null}'


def claimed(created_at: str = "2026-01-05T12:00:00.000001Z") -> ClaimedTask:
    return ClaimedTask("task-abc", "diagnostic", SPEC, "Bob Smith@x.io", created_at)


def test_resource_is_named_labelled_and_annotated_for_fifo_admission() -> None:
    body = build_task_resource(claimed())
    meta = body["metadata"]
    assert meta["name"] == "task-abc"
    assert meta["labels"] == {keys.LABEL_TASK_TYPE: "diagnostic", keys.LABEL_USER: "Bob_Smith_x.io"}
    assert meta["annotations"] == {
        keys.ANNOTATION_SOURCE: "api",
        keys.ANNOTATION_ENQUEUED_AT: "2026-01-05T12:00:00.000001Z",
    }
    assert body["spec"] == {
        "type": "diagnostic",
        "input": {"user_id": "Bob Smith@x.io"},
        "priority": 7,
    }


def test_the_tier_becomes_a_label_only_when_the_record_has_one() -> None:
    tiered = build_task_resource(claimed()._replace(tier="enterprise"))
    assert tiered["metadata"]["labels"][keys.LABEL_TIER] == "enterprise"
    assert keys.LABEL_TIER not in build_task_resource(claimed())["metadata"]["labels"]


def test_same_task_by_annotation_or_by_spec() -> None:
    ours = build_task_resource(claimed())
    assert same_task(ours, claimed())
    by_spec = {"metadata": {}, "spec": crd_spec(SPEC)}
    assert same_task(by_spec, claimed())
    other = {"metadata": {"annotations": {}}, "spec": {**crd_spec(SPEC), "priority": 8}}
    assert not same_task(other, claimed())
    stranger = {
        "metadata": {
            "annotations": {keys.ANNOTATION_SOURCE: "api", keys.ANNOTATION_ENQUEUED_AT: "x"}
        },
        "spec": {"type": "diagnostic", "input": {}},
    }
    assert not same_task(stranger, claimed())
