"""Pod problems the Job cannot see, and what the operator decides about them (pure).

The pod bodies are shaped like the kubelet's and the scheduler's statuses in
Kubernetes 1.34 (messages copied from pkg/kubelet/eviction/helpers.go, the
scheduler's "0/1 nodes are available" and containerd's pull error).
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from devskyy_operator.controller import decide as d
from devskyy_operator.controller import plan as p
from devskyy_operator.controller.pod_watch import problem_task
from devskyy_operator.crd import conditions as cond
from devskyy_operator.crd.task_view import TaskView, task_view_from_body
from devskyy_operator.job.outcome import job_outcome
from devskyy_operator.job.pod_problems import pod_problem
from devskyy_operator.settings import Settings
from tests.unit.factories import T0, body, job_body, job_condition, pod_body

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

SETTINGS = Settings(pending_deadline_seconds=60)
CREATED = "2026-01-05T12:00:00Z"
JOB_UID = "0f6c3a47-2b3e-4c4e-9d55-1a2b3c4d5e6f"
UNSCHEDULABLE_MESSAGE = (
    "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
    "1 No preemption victims found for incoming pod."
)
PULL_MESSAGE = (
    'failed to pull and unpack image "localhost:5000/devskyy/missing:1": '
    "localhost:5000/devskyy/missing:1: not found"
)
EMPTYDIR_MESSAGE = 'Usage of EmptyDir volume "artifacts" exceeds the limit "64Mi". '


def labelled(pod: dict[str, Any]) -> dict[str, Any]:
    pod["metadata"]["labels"]["devskyy.io/task-id"] = "task-1"  # as task_labels sets it
    return pod


def oom_pod(suffix: str = "a") -> dict[str, Any]:
    pod = labelled(pod_body(suffix, CREATED, phase="Failed", exit_code=137))
    pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] = "OOMKilled"
    pod["spec"]["containers"][0]["resources"] = {"limits": {"memory": "128Mi"}}
    return pod


def sigkilled_pod() -> dict[str, Any]:
    """Exit 137 for another reason (a SIGKILL at the deadline, a kill -9): no OOM."""
    return pod_body("k", CREATED, phase="Failed", exit_code=137)


def evicted_pod(message: str = EMPTYDIR_MESSAGE) -> dict[str, Any]:
    pod = labelled(pod_body("e", CREATED, phase="Failed", exit_code=137))
    pod["status"] |= {"reason": "Evicted", "message": message}
    pod["status"]["conditions"] = [
        {"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet"}
    ]
    return pod


def pending_pod(waiting: str | None = None, unschedulable: bool = False) -> dict[str, Any]:
    pod = pod_body("p", CREATED, phase="Pending", node=None if unschedulable else "node-a")
    status = pod["status"]
    if unschedulable:
        del status["containerStatuses"]
        status["conditions"] = [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": UNSCHEDULABLE_MESSAGE, "lastTransitionTime": CREATED}
        ]  # fmt: skip
    else:
        state = {"waiting": {"reason": waiting or "ContainerCreating"}}
        if waiting:
            state["waiting"]["message"] = PULL_MESSAGE
        status["containerStatuses"][0]["state"] = state
    return pod


@pytest.mark.parametrize(
    ("pod", "reason", "in_message"),
    [
        (oom_pod(), cond.REASON_OOM_KILLED, "memory limit 128Mi"),
        (sigkilled_pod(), None, None),
        (evicted_pod(), cond.REASON_EPHEMERAL_STORAGE, '"artifacts" exceeds the limit "64Mi"'),
        (evicted_pod("Pod ephemeral local storage usage exceeds the total limit of containers "
                     "64Mi. "), cond.REASON_EPHEMERAL_STORAGE, "total limit"),
        (evicted_pod('Container task exceeded its local ephemeral storage limit "64Mi". '),
         cond.REASON_EPHEMERAL_STORAGE, "Container task"),
        # Node pressure is not the pod's own fault: the Job's Ignore rule re-runs it.
        (evicted_pod("The node was low on resource: ephemeral-storage. "), None, None),
        (pending_pod(unschedulable=True), cond.REASON_UNSCHEDULABLE, "Insufficient cpu"),
        (pending_pod("ErrImagePull"), cond.REASON_IMAGE_PULL_FAILED, "ErrImagePull: failed"),
        (pending_pod("ImagePullBackOff"), cond.REASON_IMAGE_PULL_FAILED, "not found"),
        (pending_pod("InvalidImageName"), cond.REASON_IMAGE_PULL_FAILED, "InvalidImageName"),
        (pending_pod(), None, None),  # ContainerCreating: a pull in progress is no problem
        (pod_body("r", CREATED, phase="Running"), None, None),
    ],
)  # fmt: skip
def test_pod_problem(pod: dict[str, Any], reason: str | None, in_message: str | None) -> None:
    problem = pod_problem(pod)
    assert (problem.reason if problem else None) == reason
    if problem is not None:
        assert in_message is not None
        assert in_message in problem.message
        assert problem.pod == pod["metadata"]["name"]
        assert problem.pending is (reason in (cond.REASON_UNSCHEDULABLE,
                                              cond.REASON_IMAGE_PULL_FAILED))  # fmt: skip


def task(**status: Any) -> TaskView:
    raw = body()
    raw["status"] = {"phase": "Running", "jobName": "task-1", "attempts": 1, **status}
    raw["metadata"]["resourceVersion"] = "41"
    return task_view_from_body(raw)


def between_attempts_job() -> dict[str, Any]:
    """Attempt 1 failed; the Job controller waits out its backoff before the next pod."""
    return job_body({"active": 0, "ready": 0, "failed": 1, "startTime": CREATED})


def test_backoff_limit_reached_by_oom_kills_is_oom_killed() -> None:
    condition = job_condition("Failed", "BackoffLimitExceeded", "Job has reached the specified "
                              "backoff limit", "2026-01-05T12:01:00Z")  # fmt: skip
    job = job_body({"conditions": [condition], "failed": 2, "startTime": CREATED})
    outcome = job_outcome(job, [oom_pod("a"), oom_pod("b")])
    assert (outcome.phase, outcome.reason) == ("Failed", cond.REASON_OOM_KILLED)
    assert outcome.message is not None
    assert "OOM-killed" in outcome.message
    # A last attempt that died otherwise keeps the Job controller's reason.
    later = pod_body("c", "2026-01-05T12:00:30Z", phase="Failed", exit_code=3)
    assert job_outcome(job, [oom_pod("a"), later]).reason == cond.REASON_BACKOFF_LIMIT
    assert job_outcome(job, [sigkilled_pod()]).reason == cond.REASON_BACKOFF_LIMIT


def test_an_oom_kill_fails_the_task_at_once_and_deletes_its_job() -> None:
    now = T0 + timedelta(seconds=30)
    job = between_attempts_job()
    assert d.wants_pods(task(workerHost="node-a"), job, now, SETTINGS)
    plan = d.decide(task(workerHost="node-a"), job, [oom_pod()], now, SETTINGS)
    assert plan.status is not None
    assert (plan.status.phase, plan.status.reason) == ("Failed", cond.REASON_OOM_KILLED)
    failure = next(r.failure for r in plan.records if isinstance(r, p.RecordFailure))
    assert (failure.reason, failure.error_type, failure.exit_code) == ("OOMKilled",) * 2 + (137,)
    assert "memory limit 128Mi" in failure.error
    assert plan.after[-1] == p.DeleteJob(JOB_UID)


def test_retry_oom_lets_the_job_retry() -> None:
    retrying = Settings(retry_oom={"diagnostic": True})
    plan = d.decide(task(workerHost="node-a"), between_attempts_job(), [oom_pod()], T0, retrying)
    assert not any(isinstance(a, p.DeleteJob) for a in plan.after)
    assert plan.status is None or plan.status.phase == "Running"


def test_own_storage_eviction_ends_the_task_instead_of_looping() -> None:
    replaced = job_body({"active": 1, "ready": 0, "startTime": CREATED})
    view = task(workerHost="node-a")
    # The Job's counts do not move for an Ignored pod: the pod watch sees it.
    assert not d.wants_pods(view, replaced, T0, SETTINGS)
    assert problem_task(evicted_pod()) == ("tasks", "task-1")
    plan = d.decide(view, replaced, [evicted_pod(), pending_pod()], T0, SETTINGS)
    assert plan.status is not None
    assert plan.status.reason == cond.REASON_EPHEMERAL_STORAGE
    assert plan.after[-1] == p.DeleteJob(JOB_UID)
    # Evicted for node pressure: the Job's Ignore rule re-runs it, as designed.
    pressure = evicted_pod("The node was low on resource: ephemeral-storage. ")
    again = d.decide(view, replaced, [pressure, pending_pod()], T0, SETTINGS)
    assert not any(isinstance(a, p.DeleteJob) for a in again.after)


@pytest.mark.parametrize(
    ("pod", "reason"),
    [
        (pending_pod(unschedulable=True), cond.REASON_UNSCHEDULABLE),
        (pending_pod("ImagePullBackOff"), cond.REASON_IMAGE_PULL_FAILED),
    ],
)
def test_a_stuck_pending_pod_fails_the_task_after_the_pending_deadline(
    pod: dict[str, Any], reason: str
) -> None:
    job = job_body({"active": 1, "ready": 0, "startTime": CREATED})
    view = task()
    early = T0 + timedelta(seconds=59)
    assert not d.wants_pods(view, job, early, SETTINGS)  # a healthy start costs no LIST
    assert d.decide(view, job, [pod], early, SETTINGS).status is None
    late = T0 + timedelta(seconds=60)
    assert d.wants_pods(view, job, late, SETTINGS)
    plan = d.decide(view, job, [pod], late, SETTINGS)
    assert plan.status is not None
    assert (plan.status.phase, plan.status.reason) == ("Failed", reason)
    failure = next(r.failure for r in plan.records if isinstance(r, p.RecordFailure))
    assert failure.error == pod_problem(pod).message  # type: ignore[union-attr]
    assert plan.after[-1] == p.DeleteJob(JOB_UID)
    # A pod still being created (image pulling) is left alone, however long.
    slow = d.decide(view, job, [pending_pod()], late + timedelta(hours=1), SETTINGS)
    assert not any(isinstance(a, p.DeleteJob) for a in slow.after)


def test_healthy_jobs_cost_no_pod_list() -> None:
    running = job_body({"active": 1, "ready": 1, "startTime": CREATED})
    late = T0 + timedelta(hours=1)
    assert not d.wants_pods(task(workerHost="node-a"), running, late, SETTINGS)
    succeeded = job_body({"active": 0, "ready": 0, "startTime": CREATED,
                          "uncountedTerminatedPods": {"succeeded": ["u1"]}})  # fmt: skip
    assert not d.wants_pods(task(workerHost="node-a"), succeeded, late, SETTINGS)
    young = job_body({"active": 1, "ready": 0, "startTime": CREATED})
    assert not d.wants_pods(task(), young, T0 + timedelta(seconds=5), SETTINGS)


def test_a_job_past_its_verdict_is_left_to_finish() -> None:
    job = copy.deepcopy(between_attempts_job())
    job["status"]["conditions"] = [
        job_condition("FailureTarget", "BackoffLimitExceeded", "limit", CREATED)
    ]
    plan = d.decide(task(workerHost="node-a"), job, [oom_pod()], T0, SETTINGS)
    assert not any(isinstance(a, p.DeleteJob) for a in plan.after)


def test_the_failed_pod_watch_asks_only_about_problems_that_end_a_running_pod() -> None:
    assert problem_task(oom_pod()) == ("tasks", "task-1")
    assert problem_task(evicted_pod()) == ("tasks", "task-1")
    assert problem_task(labelled(sigkilled_pod())) is None  # a plain failure: the Job's
    assert problem_task(labelled(pending_pod("ErrImagePull"))) is None  # the deadline's
    assert problem_task(pod_body("x", CREATED, phase="Failed", exit_code=137)) is None
