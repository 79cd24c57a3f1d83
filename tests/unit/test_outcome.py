"""Job + pods -> Outcome, on objects shaped like a 1.34 apiserver returns them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from devskyy_operator.job.outcome import (
    REASON_BACKOFF_LIMIT,
    REASON_DEADLINE,
    REASON_PERMANENT,
    REASON_SUCCEEDED,
    job_outcome,
)

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

RESULT = {
    "task_id": "task-1",
    "status": "success",
    "completed_at": "2026-01-05T12:00:09Z",
    "result": {"slept": 0},
}


def _condition(type: str, reason: str, message: str, at: str) -> dict[str, Any]:
    return {
        "type": type,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": at,
        "lastTransitionTime": at,
    }


def _job(status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "task-1",
            "namespace": "tasks",
            "uid": "0f6c3a47-2b3e-4c4e-9d55-1a2b3c4d5e6f",
            "generation": 1,
            "labels": {"devskyy.io/task-id": "task-1"},
        },
        "spec": {"backoffLimit": 2, "activeDeadlineSeconds": 300, "completions": 1},
        "status": status,
    }


def _pod(
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


def test_pending_job_without_pods() -> None:
    job = _job(
        {
            "active": 1,
            "ready": 0,
            "terminating": 0,
            "startTime": "2026-01-05T12:00:01Z",
            "uncountedTerminatedPods": {},
        }
    )
    pod = _pod("a", "2026-01-05T12:00:01Z", phase="Pending", node=None)
    pod["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "ContainerCreating"}}
    outcome = job_outcome(job, [pod])
    assert outcome.phase == "Pending"
    assert outcome.attempts == 1
    assert outcome.started_at == datetime(2026, 1, 5, 12, 0, 1, tzinfo=UTC)
    assert outcome.worker_host is None
    assert not outcome.terminal


def test_running_after_a_failed_attempt() -> None:
    job = _job(
        {
            "active": 1,
            "failed": 1,
            "ready": 1,
            "terminating": 0,
            "startTime": "2026-01-05T12:00:01Z",
            "uncountedTerminatedPods": {},
        }
    )
    pods = [
        _pod("b", "2026-01-05T12:00:20Z", phase="Running", node="node-b"),
        _pod("a", "2026-01-05T12:00:01Z", phase="Failed", exit_code=75, message="boom"),
    ]
    outcome = job_outcome(job, pods)
    assert outcome.phase == "Running"
    assert outcome.attempts == 2
    assert outcome.exit_code == 75
    assert outcome.termination_message == "boom"
    assert outcome.worker_host == "node-b"


def test_complete_with_success_criteria_met_first() -> None:
    at = "2026-01-05T12:00:10Z"
    job = _job(
        {
            "conditions": [
                _condition(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    at,
                ),
                _condition(
                    "Complete",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    at,
                ),
            ],
            "startTime": "2026-01-05T12:00:01Z",
            "completionTime": at,
            "succeeded": 1,
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
        }
    )
    pod = _pod(
        "a", "2026-01-05T12:00:01Z", phase="Succeeded", exit_code=0, message=json.dumps(RESULT)
    )
    outcome = job_outcome(job, [pod])
    assert outcome.phase == "Succeeded"
    assert outcome.terminal
    assert outcome.reason == REASON_SUCCEEDED
    assert outcome.result == RESULT
    assert outcome.exit_code == 0
    assert outcome.attempts == 1
    assert outcome.completed_at == datetime(2026, 1, 5, 12, 0, 10, tzinfo=UTC)
    assert outcome.worker_host == "node-a"


def test_success_criteria_met_alone_is_not_terminal() -> None:
    at = "2026-01-05T12:00:10Z"
    job = _job(
        {
            "conditions": [
                _condition(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    at,
                )
            ],
            "startTime": "2026-01-05T12:00:01Z",
            "succeeded": 1,
            "terminating": 0,
            "uncountedTerminatedPods": {},
        }
    )
    outcome = job_outcome(job, [])
    assert outcome.phase == "Running"
    assert outcome.terminating
    assert not outcome.terminal
    assert outcome.completed_at is None
    assert outcome.result is None


def test_non_json_termination_message_is_kept_raw() -> None:
    at = "2026-01-05T12:00:10Z"
    job = _job(
        {
            "conditions": [_condition("Complete", "CompletionsReached", "done", at)],
            "succeeded": 1,
            "completionTime": at,
        }
    )
    pod = _pod("a", at, phase="Succeeded", exit_code=0, message="not json {")
    outcome = job_outcome(job, [pod])
    assert outcome.result is None
    assert outcome.termination_message == "not json {"


@pytest.mark.parametrize(
    ("job_reason", "message", "expected"),
    [
        (
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
            REASON_BACKOFF_LIMIT,
        ),
        ("DeadlineExceeded", "Job was active longer than specified deadline", REASON_DEADLINE),
        (
            "PodFailurePolicy",
            "Container task for pod tasks/task-1-c failed with exit code 42 matching FailJob "
            "rule at index 1",
            REASON_PERMANENT,
        ),
        ("SomethingNew", "a reason we do not know", "SomethingNew"),
    ],
)
def test_failed_reasons(job_reason: str, message: str, expected: str) -> None:
    target_at, failed_at = "2026-01-05T12:05:00Z", "2026-01-05T12:05:03Z"
    job = _job(
        {
            "conditions": [
                _condition("FailureTarget", job_reason, message, target_at),
                _condition("Failed", job_reason, message, failed_at),
            ],
            "startTime": "2026-01-05T12:00:01Z",
            "failed": 3,
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
        }
    )
    pods = [
        _pod("a", "2026-01-05T12:00:01Z", phase="Failed", exit_code=75, message="first"),
        _pod("c", "2026-01-05T12:01:01Z", phase="Failed", exit_code=42, message="last"),
        _pod("b", "2026-01-05T12:00:31Z", phase="Failed", exit_code=75, message="second"),
    ]
    outcome = job_outcome(job, pods)
    assert outcome.phase == "Failed"
    assert outcome.terminal
    assert outcome.reason == expected
    assert outcome.message == message
    assert outcome.attempts == 3
    assert (outcome.exit_code, outcome.termination_message) == (42, "last")
    assert outcome.result is None
    assert outcome.completed_at == datetime(2026, 1, 5, 12, 5, 3, tzinfo=UTC)


def test_failure_target_waits_for_pods_to_terminate() -> None:
    at = "2026-01-05T12:05:00Z"
    job = _job(
        {
            "conditions": [
                _condition(
                    "FailureTarget",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                    at,
                )
            ],
            "startTime": "2026-01-05T12:00:01Z",
            "active": 1,
            "failed": 0,
            "terminating": 1,
            "uncountedTerminatedPods": {},
        }
    )
    outcome = job_outcome(job, [_pod("a", "2026-01-05T12:00:01Z", phase="Running")])
    assert outcome.phase == "Running"
    assert outcome.terminating
    assert outcome.reason == REASON_DEADLINE
    assert not outcome.terminal


def test_false_conditions_are_ignored() -> None:
    condition = _condition("Failed", "BackoffLimitExceeded", "x", "2026-01-05T12:05:00Z")
    condition["status"] = "False"
    outcome = job_outcome(_job({"conditions": [condition], "active": 1}), [])
    assert outcome.phase == "Pending"
    assert not outcome.terminal


def test_suspended_condition_is_not_terminal() -> None:
    job = _job(
        {
            "conditions": [
                _condition("Suspended", "JobSuspended", "Job suspended", "2026-01-05T12:00:00Z")
            ]
        }
    )
    assert job_outcome(job, []).phase == "Pending"
