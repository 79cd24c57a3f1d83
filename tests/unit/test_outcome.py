"""Job + pods -> Outcome, on objects shaped like a 1.34 apiserver returns them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from devskyy_operator.job.outcome import (
    REASON_BACKOFF_LIMIT,
    REASON_DEADLINE,
    REASON_PERMANENT,
    REASON_SUCCEEDED,
    job_outcome,
    parse_termination_message,
)
from tests.unit.factories import job_body, job_condition, pod_body

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

RESULT = {
    "task_id": "task-1",
    "status": "success",
    "completed_at": "2026-01-05T12:00:09Z",
    "result": {"slept": 0},
}


def test_pending_job_without_pods() -> None:
    job = job_body(
        {
            "active": 1,
            "ready": 0,
            "terminating": 0,
            "startTime": "2026-01-05T12:00:01Z",
            "uncountedTerminatedPods": {},
        }
    )
    pod = pod_body("a", "2026-01-05T12:00:01Z", phase="Pending", node=None)
    pod["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "ContainerCreating"}}
    outcome = job_outcome(job, [pod])
    assert outcome.phase == "Pending"
    assert outcome.attempts == 1
    assert outcome.started_at == datetime(2026, 1, 5, 12, 0, 1, tzinfo=UTC)
    assert outcome.worker_host is None
    assert not outcome.terminal


def test_running_after_a_failed_attempt() -> None:
    job = job_body(
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
        pod_body("b", "2026-01-05T12:00:20Z", phase="Running", node="node-b"),
        pod_body("a", "2026-01-05T12:00:01Z", phase="Failed", exit_code=75, message="boom"),
    ]
    outcome = job_outcome(job, pods)
    assert outcome.phase == "Running"
    assert outcome.attempts == 2
    assert outcome.failed_attempts == 1  # retried: the history's attempt_failed
    assert outcome.exit_code == 75
    assert outcome.termination_message == "boom"
    assert outcome.worker_host == "node-b"


def test_complete_with_success_criteria_met_first() -> None:
    at = "2026-01-05T12:00:10Z"
    job = job_body(
        {
            "conditions": [
                job_condition(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    at,
                ),
                job_condition(
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
    pod = pod_body(
        "a", "2026-01-05T12:00:01Z", phase="Succeeded", exit_code=0, message=json.dumps(RESULT)
    )
    outcome = job_outcome(job, [pod])
    assert outcome.phase == "Succeeded"
    assert outcome.terminal
    assert outcome.reason == REASON_SUCCEEDED
    assert outcome.result == RESULT
    assert outcome.exit_code == 0
    assert outcome.attempts == 1
    assert outcome.failed_attempts == 0
    assert outcome.completed_at == datetime(2026, 1, 5, 12, 0, 10, tzinfo=UTC)
    assert outcome.worker_host == "node-a"


def test_success_criteria_met_alone_is_not_terminal() -> None:
    at = "2026-01-05T12:00:10Z"
    job = job_body(
        {
            "conditions": [
                job_condition(
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
    job = job_body(
        {
            "conditions": [job_condition("Complete", "CompletionsReached", "done", at)],
            "succeeded": 1,
            "completionTime": at,
        }
    )
    pod = pod_body("a", at, phase="Succeeded", exit_code=0, message="not json {")
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
    job = job_body(
        {
            "conditions": [
                job_condition("FailureTarget", job_reason, message, target_at),
                job_condition("Failed", job_reason, message, failed_at),
            ],
            "startTime": "2026-01-05T12:00:01Z",
            "failed": 3,
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
        }
    )
    pods = [
        pod_body("a", "2026-01-05T12:00:01Z", phase="Failed", exit_code=75, message="first"),
        pod_body("c", "2026-01-05T12:01:01Z", phase="Failed", exit_code=42, message="last"),
        pod_body("b", "2026-01-05T12:00:31Z", phase="Failed", exit_code=75, message="second"),
    ]
    outcome = job_outcome(job, pods)
    assert outcome.phase == "Failed"
    assert outcome.terminal
    assert outcome.reason == expected
    assert outcome.message == message
    assert outcome.attempts == 3
    assert outcome.failed_attempts == 2  # the third failure is the final one, not retried
    assert (outcome.exit_code, outcome.termination_message) == (42, "last")
    assert outcome.result is None
    assert outcome.completed_at == datetime(2026, 1, 5, 12, 5, 3, tzinfo=UTC)


def test_failure_target_waits_for_pods_to_terminate() -> None:
    at = "2026-01-05T12:05:00Z"
    job = job_body(
        {
            "conditions": [
                job_condition(
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
    outcome = job_outcome(job, [pod_body("a", "2026-01-05T12:00:01Z", phase="Running")])
    assert outcome.phase == "Running"
    assert outcome.terminating
    assert outcome.reason == REASON_DEADLINE
    assert not outcome.terminal


def test_false_conditions_are_ignored() -> None:
    condition = job_condition("Failed", "BackoffLimitExceeded", "x", "2026-01-05T12:05:00Z")
    condition["status"] = "False"
    outcome = job_outcome(job_body({"conditions": [condition], "active": 1}), [])
    assert outcome.phase == "Pending"
    assert not outcome.terminal


def test_suspended_condition_is_not_terminal() -> None:
    job = job_body(
        {
            "conditions": [
                job_condition("Suspended", "JobSuspended", "Job suspended", "2026-01-05T12:00:00Z")
            ]
        }
    )
    assert job_outcome(job, []).phase == "Pending"


FAILURE = {
    "status": "failed",
    "task_id": "task-1",
    "error": "TRIPO_API_KEY is not configured",
    "error_type": "MissingCredentials",
    "retryable": False,
}


@pytest.mark.parametrize(
    ("text", "data", "error", "error_type"),
    [
        (json.dumps(FAILURE), FAILURE, "TRIPO_API_KEY is not configured", "MissingCredentials"),
        (json.dumps(RESULT), RESULT, None, None),  # a success output has no error
        ("Traceback: boom", None, "Traceback: boom", None),  # not JSON: the text is the error
        ('["a list"]', None, '["a list"]', None),  # JSON, but not our record
        (json.dumps({"error": "", "error_type": 3}), {"error": "", "error_type": 3}, None, None),
        ("", None, None, None),
        (None, None, None, None),
    ],
)
def test_the_one_termination_message_parser(
    text: str | None, data: object, error: str | None, error_type: str | None
) -> None:
    message = parse_termination_message(text)
    assert message.data == data
    assert (message.error, message.error_type) == (error, error_type)


def test_outcome_carries_the_tasks_error_from_the_last_pod() -> None:
    at = "2026-01-05T12:05:03Z"
    job = job_body(
        {
            "conditions": [job_condition("Failed", "PodFailurePolicy", "exit code 42", at)],
            "failed": 1,
            "startTime": "2026-01-05T12:00:01Z",
        }
    )
    pod = pod_body("a", at, phase="Failed", exit_code=42, message=json.dumps(FAILURE))
    outcome = job_outcome(job, [pod])
    assert outcome.reason == REASON_PERMANENT
    assert outcome.task_error == "TRIPO_API_KEY is not configured"
    assert outcome.task_error_type == "MissingCredentials"
    assert outcome.result is None  # a failure's record is not a result
