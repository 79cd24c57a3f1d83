"""The reconciler's decisions, pure: task + Job + pods + time -> the plan.

One table covers every phase transition (and the no-ops); the tests below it
look at the details of each kind of plan. No API client, no Redis: what the
plan says is what the reconciler does (tests/e2e run the same plans for real).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from devskyy_agents.clock import utc_iso
from devskyy_agents.models import parse_spec
from devskyy_operator.admission.sla import Verdict
from devskyy_operator.bridge.invalid import refused_by_crd
from devskyy_operator.controller import decide as d
from devskyy_operator.controller import plan as p
from devskyy_operator.controller.forged import forged
from devskyy_operator.controller.refusals import invalid
from devskyy_operator.controller.statuses import MAX_STATUS_RESULT_BYTES, admitted_status
from devskyy_operator.cost.compute import task_cost
from devskyy_operator.crd.conditions import get_condition
from devskyy_operator.crd.status import phase_rank
from devskyy_operator.crd.task_view import TaskView, parse_time, task_view_from_body
from devskyy_operator.job.outcome import success_settling
from devskyy_operator.redisq.claim import ClaimedTask
from devskyy_operator.settings import Settings
from tests.unit.factories import INPUTS, T0, body, job_body, job_condition, pod_body

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

SETTINGS = Settings(worker_host="operator-node")
NOW = T0 + timedelta(minutes=10)
STARTED = "2026-01-05T12:00:01Z"
ENDED = "2026-01-05T12:00:41Z"
OUTPUT = {"task_id": "task-1", "status": "success", "result": {"slept": 0}}
FAILURE = {"status": "failed", "error": "TRIPO_API_KEY is not configured",
           "error_type": "MissingCredentials"}  # fmt: skip
ADMITTED: dict[str, Any] = {"phase": "Running", "jobName": "task-1", "attempts": 1}


def task(phase: str | None = None, **status: Any) -> TaskView:
    raw = body()
    if phase is not None or status:
        raw["status"] = {"phase": phase, **status} if phase else dict(status)
    raw["metadata"]["resourceVersion"] = "41"
    return task_view_from_body(raw)


def pending_job() -> dict[str, Any]:
    return job_body({"active": 1, "ready": 0, "startTime": STARTED})


def running_job(failed: int = 0) -> dict[str, Any]:
    return job_body({"active": 1, "ready": 1, "failed": failed, "startTime": STARTED})


def running_pod(node: str = "node-a") -> dict[str, Any]:
    return pod_body("a", STARTED, phase="Running", node=node)


def finished_job(kind: str, reason: str, message: str, **counts: int) -> dict[str, Any]:
    conditions = [job_condition(kind, reason, message, ENDED)]
    status: dict[str, Any] = {"conditions": conditions, "startTime": STARTED, **counts}
    if kind == "Complete":
        status["completionTime"] = ENDED
    return job_body(status)


def complete_job() -> dict[str, Any]:
    return finished_job("Complete", "CompletionsReached", "done", succeeded=1)


def failed_job(reason: str, message: str) -> dict[str, Any]:
    return finished_job("Failed", reason, message, failed=1)


def ended_pod(exit_code: int, message: dict[str, Any] | None) -> dict[str, Any]:
    text = json.dumps(message) if message is not None else None
    return pod_body("a", STARTED, phase="Failed" if exit_code else "Succeeded",
                    exit_code=exit_code, message=text)  # fmt: skip


Summary = tuple[tuple[str, ...], tuple[str | None, str | None] | None, tuple[str, ...]]


def summary(plan: p.Plan) -> Summary:
    status = None if plan.status is None else (plan.status.phase, plan.status.reason)
    return (
        tuple(type(r).__name__ for r in plan.records),
        status,
        tuple(type(a).__name__ for a in plan.after),
    )


def condition(patch: dict[str, Any], type: str) -> dict[str, Any]:
    found = get_condition(patch["conditions"], type)
    assert found is not None, f"no {type} condition in {patch['conditions']}"
    return found


NOTHING: tuple[tuple[str, ...], None, tuple[str, ...]] = ((), None, ())
ENDED_AFTER = ("PostEvent", "TaskEnded", "SlaJudged")  # every end judges the completion SLA

# (case, task, job, pods) -> (records, (phase, reason) of the status write, after)
TRANSITIONS: list[tuple[str, TaskView, dict[str, Any] | None, list[dict[str, Any]], Any]] = [
    ("new task", task(), None, [], (("EnsureRecord",), ("Queued", "Queued"), ())),
    ("new task, a Job exists already", task(), running_job(), [],
     (("EnsureRecord",), ("Queued", "Queued"), ())),
    ("queued: admission's business", task("Queued"), None, [], NOTHING),
    ("queued, a Job left by a crash", task("Queued"), running_job(), [], NOTHING),
    ("succeeded stays", task("Succeeded"), complete_job(), [ended_pod(0, OUTPUT)], NOTHING),
    ("failed stays", task("Failed"), None, [], NOTHING),
    ("the Job of an older task of that name", task(**ADMITTED),
     job_body({"active": 1}, owner_uid="uid-someone-else"), [], NOTHING),
    ("pod pending, same attempt: skip the write", task(**ADMITTED), pending_job(), [], NOTHING),
    ("a Job not synced yet (no status): still attempt 1", task(**ADMITTED), job_body({}), [],
     NOTHING),
    ("pod pending, attempts unknown", task("Running", jobName="task-1"), pending_job(), [],
     ((), ("Running", "Running"), ())),
    ("first pod runs", task(**ADMITTED), running_job(), [running_pod()],
     (("MarkProcessing",), ("Running", "Running"), ())),
    ("running, nothing new: skip the write",
     task(**ADMITTED, startedAt=STARTED, workerHost="node-a", reason="Running"),
     running_job(), [running_pod()], NOTHING),
    ("a retry runs", task(**ADMITTED, startedAt=STARTED, workerHost="node-a", reason="Running"),
     running_job(failed=1), [running_pod()], (("MarkProcessing",), ("Running", "Running"), ())),
    ("deadline verdict, pod still ending", task(**ADMITTED),
     job_body({"active": 1, "startTime": STARTED, "conditions": [job_condition(
         "FailureTarget", "DeadlineExceeded", "too long", ENDED)]}), [running_pod()],
     (("MarkProcessing",), ("Running", "DeadlineExceeded"), ())),
    ("pod ended, not yet counted: still attempt 1, skip the write", task(**ADMITTED),
     job_body({"active": 0, "startTime": STARTED,
               "uncountedTerminatedPods": {"succeeded": ["pod-uid"]}}), [], NOTHING),
    ("success verdict, pod ending: the Succeeded write follows", task(**ADMITTED),
     job_body({"succeeded": 1, "startTime": STARTED, "conditions": [job_condition(
         "SuccessCriteriaMet", "CompletionsReached", "done", ENDED)]}), [], NOTHING),
    ("completed", task(**ADMITTED), complete_job(), [ended_pod(0, OUTPUT)],
     (("MarkProcessing", "MarkCompleted"), ("Succeeded", "Succeeded"), ("TaskEnded", "SlaJudged"))),
    ("retries exhausted", task(**ADMITTED), failed_job("BackoffLimitExceeded", "backoff"),
     [ended_pod(75, None)],
     (("MarkProcessing", "RecordFailure"), ("Failed", "BackoffLimitExceeded"), ENDED_AFTER)),
    ("permanent failure (exit 42)", task(**ADMITTED), failed_job("PodFailurePolicy", "42"),
     [ended_pod(42, FAILURE)],
     (("MarkProcessing", "RecordFailure"), ("Failed", "PermanentFailure"), ENDED_AFTER)),
    ("deadline", task(**ADMITTED), failed_job("DeadlineExceeded", "too long"), [],
     (("MarkProcessing", "RecordFailure"), ("Failed", "DeadlineExceeded"), ENDED_AFTER)),
    ("job missing", task(**ADMITTED), None, [],
     (("RecordFailure",), ("Failed", "JobDeleted"), ENDED_AFTER)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "view", "job", "pods", "expected"), TRANSITIONS, ids=[t[0] for t in TRANSITIONS]
)
def test_every_transition(
    case: str, view: TaskView, job: dict[str, Any] | None, pods: list[dict[str, Any]],
    expected: Any,
) -> None:  # fmt: skip
    assert summary(d.decide(view, job, pods, NOW, SETTINGS)) == expected


def test_a_new_task_gets_its_record_then_queued() -> None:
    raw = body(annotations={"devskyy.io/source": "api",
                            "devskyy.io/enqueued-at": "2026-01-05T11:59:58.250000Z"})  # fmt: skip
    view = task_view_from_body(raw)
    plan = d.decide(view, None, [], NOW, SETTINGS)
    assert plan.records == (p.EnsureRecord(view.spec, view.queued_at, "api"),)
    assert plan.status is not None
    patch = plan.status.patch()
    assert patch["queuedAt"] == "2026-01-05T11:59:58Z"
    assert patch["attempts"] == 0
    admitted = get_condition(patch["conditions"], "Admitted")
    assert admitted is not None
    assert (admitted["status"], admitted["reason"]) == ("False", "Queued")
    assert plan.deferrable, "admission may replace the Queued write with its own"
    assert d.enqueue(task(), NOW, SETTINGS).records[0] == p.EnsureRecord(task().spec, T0, "kubectl")


def test_a_task_scheduled_ahead_is_written_queued_at_once_with_its_start() -> None:
    later = datetime(2026, 1, 5, 13, 0, tzinfo=UTC)
    campaign = body(task_type="marketing_campaign")
    campaign["spec"]["input"]["schedule_at"] = later.isoformat()
    plan = d.enqueue(task_view_from_body(campaign), NOW, SETTINGS)
    assert plan.status is not None
    assert not plan.deferrable
    assert plan.status.patch()["notBefore"] == "2026-01-05T13:00:00Z"


def test_admitted_status() -> None:
    patch = admitted_status(task("Queued"), NOW).patch()
    assert patch["queuedAt"] == utc_iso(T0, timespec="seconds")  # also if never written Queued
    assert {k: patch[k] for k in ("phase", "reason", "jobName", "attempts", "admittedAt")} == {
        "phase": "Running", "reason": "Admitted", "jobName": "task-1", "attempts": 1,
        "admittedAt": "2026-01-05T12:10:00Z",
    }  # fmt: skip
    assert condition(patch, "Admitted")["status"] == "True"


def test_the_running_write_names_the_node_and_records_processing() -> None:
    plan = d.decide(task(**ADMITTED), running_job(), [running_pod("node-b")], NOW, SETTINGS)
    assert plan.records == (p.MarkProcessing(parse_time(STARTED), "node-b", 1),)
    assert plan.status is not None
    patch = plan.status.patch()
    assert (patch["workerHost"], patch["startedAt"], patch["attempts"]) == ("node-b", STARTED, 1)
    running = get_condition(patch["conditions"], "Running")
    assert running is not None
    assert (running["status"], running["message"]) == ("True", "attempt 1")


def test_a_pending_pod_is_written_as_pending_without_a_redis_write() -> None:
    plan = d.decide(task("Running", jobName="task-1"), pending_job(), [], NOW, SETTINGS)
    assert plan.records == ()
    assert plan.status is not None
    running = get_condition(plan.status.patch()["conditions"], "Running")
    assert running is not None
    assert (running["status"], running["reason"]) == ("False", "PodPending")


def test_success_writes_the_result_and_counts_the_run() -> None:
    plan = d.decide(task(**ADMITTED), complete_job(), [ended_pod(0, OUTPUT)], NOW, SETTINGS)
    # diagnostic requests 100m cpu and 128Mi memory (Settings' defaults), for 40 s
    cost = task_cost({"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "256Mi"}, 40.0, [],
                     SETTINGS.cost)  # fmt: skip
    assert p.MarkCompleted(OUTPUT, parse_time(ENDED), cost) in plan.records
    assert plan.status is not None
    patch = plan.status.patch()
    assert patch["cost"]["total"] == cost.total
    assert patch["cost"]["runSeconds"] == 40.0
    assert patch["result"] == OUTPUT
    assert (patch["completedAt"], patch["exitCode"], patch["workerHost"]) == (ENDED, 0, "node-a")
    assert condition(patch, "Succeeded")["status"] == "True"
    assert condition(patch, "Running")["status"] == "False"
    assert get_condition(patch["conditions"], "DeadLettered") is None
    ended, judged = plan.after  # no Event: the Succeeded condition says it
    assert judged == p.SlaJudged("diagnostic", Verdict(("completion",), ()))  # 41 s < 360 s
    assert ended == p.TaskEnded("diagnostic", "alice", True, 40.0,
                                {"cpu": 0.1, "memory": 128 * 2**20}, cost)  # fmt: skip


def test_a_result_too_large_for_the_status_stays_in_redis_only() -> None:
    big = {**OUTPUT, "result": {"text": "x" * (MAX_STATUS_RESULT_BYTES + 1)}}
    pod = pod_body("a", STARTED, phase="Succeeded", exit_code=0, message=json.dumps(big))
    plan = d.decide(task(**ADMITTED), complete_job(), [pod], NOW, SETTINGS)
    assert plan.status is not None
    assert "result" not in plan.status.patch()
    (completed,) = [r for r in plan.records if isinstance(r, p.MarkCompleted)]
    assert (completed.result, completed.completed_at) == (big, parse_time(ENDED))


def test_a_final_failure_has_one_set_of_facts_for_dlq_hash_and_status() -> None:
    view = task(**ADMITTED, workerHost="node-a")
    job = failed_job("PodFailurePolicy", "Container task failed with exit code 42")
    plan = d.decide(view, job, [ended_pod(42, FAILURE)], NOW, SETTINGS)
    [failure] = [r.failure for r in plan.records if isinstance(r, p.RecordFailure)]
    assert failure.task_id == "task-1"
    assert (failure.task_type, failure.user_id, failure.namespace) == (
        "diagnostic",
        "alice",
        "tasks",
    )
    assert failure.task_data == {"user_id": "alice"}
    assert (failure.reason, failure.error_type) == ("PermanentFailure", "MissingCredentials")
    assert failure.error == "TRIPO_API_KEY is not configured"  # the task's words, not the Job's
    assert failure.termination_message == json.dumps(FAILURE)
    assert (failure.attempts, failure.exit_code, failure.worker_host) == (1, 42, "node-a")
    assert failure.failed_at == parse_time(ENDED)
    assert plan.status is not None
    patch = plan.status.patch()
    assert patch["phase"] == "Failed"
    assert (patch["reason"], patch["message"], patch["errorType"]) == (
        failure.reason, failure.error, failure.error_type,
    )  # fmt: skip
    assert patch["completedAt"] == patch["deadLetteredAt"] == ENDED
    failed = get_condition(patch["conditions"], "Failed")
    lettered = get_condition(patch["conditions"], "DeadLettered")
    assert failed is not None
    assert lettered is not None
    assert (failed["status"], failed["message"]) == (
        "True",
        "Container task failed with exit code 42",
    )
    assert (lettered["status"], lettered["message"]) == ("True", "devskyy:dlq:task-1")
    assert plan.after[0] == p.PostEvent(
        "PermanentFailure", "task failed (PermanentFailure) after 1 attempt(s)", warning=True
    )


def test_a_failure_without_the_tasks_words_uses_the_job_controllers() -> None:
    job = failed_job("BackoffLimitExceeded", "Job has reached the specified backoff limit")
    plan = d.decide(task(**ADMITTED), job, [ended_pod(75, None)], NOW, SETTINGS)
    [failure] = [r.failure for r in plan.records if isinstance(r, p.RecordFailure)]
    assert failure.error == "Job has reached the specified backoff limit"
    assert failure.error_type == "BackoffLimitExceeded"
    assert failure.worker_host == "node-a"


def test_a_deleted_job_fails_the_task_with_what_the_status_knew() -> None:
    view = task(**{**ADMITTED, "attempts": 2}, workerHost="node-c", startedAt=STARTED)
    plan = d.decide(view, None, [], NOW, SETTINGS)
    [failure] = [r.failure for r in plan.records if isinstance(r, p.RecordFailure)]
    assert (failure.reason, failure.error_type, failure.attempts) == ("JobDeleted", "JobDeleted", 2)
    assert failure.error == "the task's Job was deleted before it finished"
    assert failure.failed_at == NOW
    assert failure.worker_host == "node-c"
    # Its pod ran from the start the status saw until the deletion was noticed.
    requests = {"cpu": "100m", "memory": "128Mi"}
    cost = task_cost(requests, (NOW - parse_time(STARTED)).total_seconds(), [], SETTINGS.cost)
    assert failure.cost == cost
    assert cost.resource != "0.000000"
    assert plan.after[1] == p.TaskEnded("diagnostic", "alice", False, None, cost=cost)


def test_an_invalid_spec_is_a_final_failure_with_the_dead_lettered_condition() -> None:
    raw = body(input={"user_id": "alice", "sleep_seconds": -1})
    raw["metadata"]["resourceVersion"] = "7"
    with pytest.raises(ValidationError) as caught:
        task_view_from_body(raw)
    plan = invalid(raw, caught.value, NOW, SETTINGS)
    [record] = plan.records
    assert isinstance(record, p.RecordFailure)
    failure = record.failure
    assert (failure.reason, failure.error_type) == ("InvalidSpec", "InvalidTaskInput")
    assert "input.sleep_seconds" in failure.error
    assert (failure.task_type, failure.user_id, failure.attempts) == ("diagnostic", "alice", 0)
    assert failure.worker_host == "operator-node"
    assert plan.status is not None
    patch = plan.status.patch()
    assert (patch["phase"], patch["reason"], patch["errorType"]) == (
        "Failed", "InvalidSpec", "InvalidTaskInput",
    )  # fmt: skip
    assert patch["message"] == failure.error
    lettered = get_condition(patch["conditions"], "DeadLettered")
    assert lettered is not None
    assert lettered["status"] == "True"
    assert plan.after == (p.PostEvent("InvalidSpec", f"invalid spec: {failure.error}", True),)
    raw["status"] = {"phase": "Failed"}
    assert invalid(raw, caught.value, NOW, SETTINGS).empty


def test_a_spec_refused_by_the_crd_or_the_models_is_the_same_failure() -> None:
    raw = body(input={"user_id": "alice", "sleep_seconds": -1})
    with pytest.raises(ValidationError) as caught:
        task_view_from_body(raw)
    [record] = invalid(raw, caught.value, NOW, SETTINGS).records
    assert isinstance(record, p.RecordFailure)
    spec = parse_spec({"type": "diagnostic", "input": {"user_id": "alice"}})
    claimed = ClaimedTask("task-2", "diagnostic", spec.model_dump_json(), "alice", 0.0)
    refused = refused_by_crd(claimed, "priority: must be <= 1000", "tasks", "bridge-1", NOW)
    assert (refused.reason, refused.error_type) == (
        record.failure.reason,
        record.failure.error_type,
    )
    assert refused.error == "rejected by the API server: priority: must be <= 1000"
    assert refused.task_data == {"user_id": "alice"}


@pytest.mark.parametrize(
    ("status", "spec", "expected"),
    [
        ({"phase": "Running"}, {"type": "ml_training"}, (p.MarkCancelled("ml_training"),)),
        ({"phase": "Queued"}, {"type": "diagnostic"}, (p.MarkCancelled("diagnostic"),)),
        ({}, {"type": "diagnostic"}, (p.MarkCancelled("diagnostic"),)),
        ({}, {}, (p.MarkCancelled("unknown"),)),
        ({"phase": "Succeeded"}, {"type": "diagnostic"}, ()),
        ({"phase": "Failed"}, {"type": "diagnostic"}, ()),
    ],
)
def test_a_deleted_task_is_cancelled_unless_it_had_ended(
    status: dict[str, Any], spec: dict[str, Any], expected: tuple[p.MarkCancelled, ...]
) -> None:
    plan = d.deleted({"metadata": {"name": "task-1"}, "spec": spec, "status": status})
    assert plan.records == expected
    assert plan.status is None


@pytest.mark.parametrize(
    ("fresh", "gone"),
    [
        (None, True),
        ({"metadata": {"uid": "uid-task-1"}}, False),
        ({"metadata": {"uid": "uid-task-1", "deletionTimestamp": ENDED}}, True),
        ({"metadata": {"uid": "uid-a-newer-task"}}, True),
    ],
)
def test_job_missing_is_a_cancel_only_when_a_fresh_read_says_so(
    fresh: dict[str, Any] | None, gone: bool
) -> None:
    assert d.task_is_gone(fresh, "uid-task-1") is gone


@pytest.mark.parametrize(
    ("view", "job", "needs", "pods"),
    [
        (task(), None, False, False),
        (task("Queued"), None, False, False),
        (task("Succeeded"), None, False, False),
        (task(**ADMITTED), pending_job(), True, False),
        (task(**ADMITTED), running_job(), True, True),  # first pod ready: which node?
        (task(**ADMITTED, workerHost="node-a"), running_job(), True, False),
        (task(**ADMITTED, workerHost="node-a"), complete_job(), True, True),  # exit code, message
        (task(**ADMITTED), job_body({"ready": 1}, owner_uid="other"), True, False),
    ],
)
def test_what_the_reconciler_reads(
    view: TaskView, job: dict[str, Any] | None, needs: bool, pods: bool
) -> None:
    assert d.needs_job(view) is needs
    soon = parse_time(STARTED) + timedelta(seconds=5)  # (past the pending deadline: see
    assert d.wants_pods(view, job, soon, SETTINGS) is pods  # tests/unit/test_pod_problems.py)


@pytest.mark.parametrize(
    ("view", "age_seconds", "expired"),
    [
        (task("Succeeded", completedAt="2026-01-05T12:00:00Z"), 3600, True),
        (task("Failed", completedAt="2026-01-05T12:00:00Z"), 3599, False),
        (task("Running", completedAt="2026-01-05T12:00:00Z"), 9999, False),
        (task("Succeeded"), 9999, False),  # no completedAt: not recorded by us
        (None, 9999, False),  # owner gone: the garbage collector's job
    ],
)
def test_finished_jobs_are_deleted_after_retention(
    view: TaskView | None, age_seconds: int, expired: bool
) -> None:
    assert d.retention_expired(view, T0 + timedelta(seconds=age_seconds), 3600) is expired


def test_phase_rank() -> None:
    ranks = [phase_rank(p) for p in (None, "Queued", "Running", "Succeeded", "Failed")]
    assert ranks == [0, 1, 2, 3, 3]


def campaign(schedule_at: str) -> TaskView:
    raw = body(task_type="marketing_campaign", input={**INPUTS["marketing_campaign"],
                                                      "schedule_at": schedule_at})  # fmt: skip
    return task_view_from_body(raw)


def test_a_scheduled_task_waits_with_not_before() -> None:
    plan = d.enqueue(campaign("2026-01-05T13:00:00Z"), NOW, SETTINGS)
    assert plan.status is not None
    patch = plan.status.patch()
    assert patch["notBefore"] == "2026-01-05T13:00:00Z"
    assert condition(patch, "Admitted")["message"] == "scheduled for 2026-01-05T13:00:00Z"
    due = d.enqueue(campaign("2026-01-05T12:05:00Z"), NOW, SETTINGS).status
    assert due is not None
    assert "notBefore" not in due.patch()  # already due: it waits for a slot only


def test_a_task_over_the_current_limits_is_refused_after_its_record() -> None:
    far = campaign("2027-01-05T12:00:00Z")  # beyond the 90-day schedule horizon
    plan = d.enqueue(far, NOW, SETTINGS)
    assert [type(r).__name__ for r in plan.records] == ["EnsureRecord", "RecordFailure"]
    failure = plan.records[1].failure  # type: ignore[union-attr]
    assert (failure.reason, failure.error_type) == ("InvalidSpec", "InvalidTaskInput")
    assert failure.error.startswith("spec.input.schedule_at: more than 90 days ahead")
    assert plan.status is not None
    patch = plan.status.patch()
    assert (patch["phase"], patch["reason"]) == ("Failed", "InvalidSpec")
    assert condition(patch, "DeadLettered")["status"] == "True"


ADMITTED_DONE: dict[str, Any] = {"jobName": "task-1", "attempts": 1, "reason": "SetByHand",
                                 "completedAt": "2026-01-01T00:00:00Z"}  # fmt: skip
OUTCOME_CONDITIONS = [
    {"type": "Admitted", "status": "True", "reason": "Admitted", "message": "job task-1 created",
     "lastTransitionTime": STARTED, "observedGeneration": 1},
    {"type": "Failed", "status": "True", "reason": "SetByHand", "message": "x",
     "lastTransitionTime": ENDED, "observedGeneration": 1},
]  # fmt: skip

# (case, phase, status, record, job) -> (records, phase after, reconcile again)
FORGED: list[tuple[str, str, dict[str, Any], str, dict[str, Any] | None, Any]] = [
    ("admitted, its Job runs: the Job decides", "Succeeded",
     {**ADMITTED_DONE, "conditions": OUTCOME_CONDITIONS}, "processing", running_job(),
     ((), "Running", True)),
    ("never admitted: back to waiting", "Failed",
     {"reason": "SetByHand", "conditions": OUTCOME_CONDITIONS[:1]}, "pending", None,
     ((), None, True)),
    ("admitted, Job gone, Failed: kept, a final failure", "Failed", ADMITTED_DONE, "processing",
     None, (("RecordFailure",), "unchanged", False)),
    ("admitted, Job gone, Succeeded: kept, completed", "Succeeded",
     {**ADMITTED_DONE, "result": OUTPUT}, "processing", None,
     (("MarkCompleted",), "unchanged", False)),
    ("jobName set, only an older task's Job: kept", "Failed", ADMITTED_DONE, "pending",
     job_body({"active": 1}, owner_uid="uid-else"), (("RecordFailure",), "unchanged", False)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "phase", "status", "recorded", "job", "expected"), FORGED, ids=[f[0] for f in FORGED]
)
def test_a_terminal_status_the_operator_did_not_write(
    case: str, phase: str, status: dict[str, Any], recorded: str,
    job: dict[str, Any] | None, expected: Any,
) -> None:  # fmt: skip
    view = task(phase, **status)
    plan = forged(view, recorded, job, NOW, SETTINGS)
    records, phase_after, again = expected
    assert tuple(type(r).__name__ for r in plan.records) == records
    assert plan.reconcile_after is again
    assert plan.after[0] == p.PostEvent("StatusOverridden", plan.after[0].message, warning=True)  # type: ignore[union-attr]
    if phase_after == "unchanged":
        assert plan.status is None  # the status stays as it is
        return
    assert plan.status is not None
    patch = plan.status.patch()
    assert patch["phase"] == phase_after
    assert patch["reason"] == "StatusOverridden"
    for cleared in ("completedAt", "result", "exitCode", "errorType", "deadLetteredAt", "message"):
        assert patch[cleared] is None
    assert [c["type"] for c in patch["conditions"]] == ["Admitted"]  # the outcome's go


def test_a_kept_forged_failure_takes_its_facts_from_the_status() -> None:
    view = task("Failed", **{**ADMITTED_DONE, "message": "stopped by hand", "attempts": 2})
    [record] = forged(view, "processing", None, NOW, SETTINGS).records
    assert isinstance(record, p.RecordFailure)
    failure = record.failure
    assert (failure.reason, failure.error, failure.error_type) == (
        "SetByHand", "stopped by hand", "Failed",
    )  # fmt: skip
    assert (failure.attempts, failure.failed_at) == (2, parse_time("2026-01-01T00:00:00Z"))


_UNCOUNTED = st.fixed_dictionaries(
    {}, optional={"succeeded": st.lists(st.just("pod-uid"), max_size=1),
                  "failed": st.lists(st.just("pod-uid-2"), max_size=1)},
)  # fmt: skip
_JOB_STATUS = st.fixed_dictionaries(
    {"startTime": st.just(STARTED)},
    optional={
        "active": st.integers(0, 1), "ready": st.integers(0, 1), "succeeded": st.integers(0, 1),
        "failed": st.integers(0, 2), "uncountedTerminatedPods": _UNCOUNTED,
        "conditions": st.lists(st.sampled_from([
            job_condition("SuccessCriteriaMet", "CompletionsReached", "done", ENDED),
            job_condition("FailureTarget", "BackoffLimitExceeded", "backoff", ENDED),
        ]), max_size=1, unique_by=lambda c: c["type"]),
    },
)  # fmt: skip
_RUNNING_STATUS = st.sampled_from([
    ADMITTED, {**ADMITTED, "workerHost": "node-a"}, {**ADMITTED, "attempts": 0},
    {**ADMITTED, "startedAt": STARTED, "reason": "Running"},
])  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(status=_JOB_STATUS, current=_RUNNING_STATUS)
def test_a_settling_success_is_never_decided_on(
    status: dict[str, Any], current: dict[str, Any]
) -> None:
    """The Job watch starts no reconcile for a Job whose success the controller has
    not settled (`success_settling`): for every such Job the reconcile would read
    no pods and plan nothing, so skipping it loses no write."""
    job = job_body(status)
    if not success_settling(job):
        return
    running = task(**current)
    assert not d.wants_pods(running, job, NOW, SETTINGS)
    assert d.decide(running, job, [], NOW, SETTINGS) == p.Plan()


def test_settling_successes_are_the_common_case_of_a_fast_task() -> None:
    """The states the skip is for (an uncounted succeeded pod, the verdict before
    Complete) are settling; a ready pod, a failure and the final verdict are not."""
    uncounted = {"active": 0, "uncountedTerminatedPods": {"succeeded": ["pod-uid"]}}
    verdict = {"succeeded": 1, "conditions": [
        job_condition("SuccessCriteriaMet", "CompletionsReached", "done", ENDED)]}  # fmt: skip
    assert success_settling(job_body(uncounted))
    assert success_settling(job_body(verdict))
    assert not success_settling(job_body({**uncounted, "ready": 1}))
    assert not success_settling(job_body({**uncounted, "failed": 1}))
    assert not success_settling(job_body({**verdict, "active": 1}))
    assert not success_settling(complete_job())
    assert not success_settling(pending_job())
