"""The pod watch's slim copies, when they stand in for a LIST, and the store (pure).

The pods are shaped like a 1.34 apiserver returns a Job's pods (the Job
controller's labels and finalizer, the kubelet's conditions and statuses).
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest

from devskyy_operator.controller import decide as d
from devskyy_operator.controller.pod_store import PodStore
from devskyy_operator.crd.task_view import TaskView, task_view_from_body
from devskyy_operator.job.outcome import job_outcome
from devskyy_operator.job.pod_problems import pod_problem
from devskyy_operator.job.pod_records import counted_as, slim_pod, suffices
from devskyy_operator.settings import Settings
from tests.unit.factories import T0, body, job_body, job_condition, pod_body

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

CREATED = "2026-01-05T12:00:00Z"
JOB_UID = "0f6c3a47-2b3e-4c4e-9d55-1a2b3c4d5e6f"  # job_body's
SETTINGS = Settings(pending_deadline_seconds=60)
RESULT = json.dumps({"task_id": "task-1", "status": "success", "result": {"slept": 2}})


def full_pod(suffix: str, created: str = CREATED, **kwargs: Any) -> dict[str, Any]:
    """A pod of the Job with what the apiserver adds: the Job controller's labels,
    owner and finalizer, the kubelet's conditions, IPs and image ids."""
    pod = pod_body(suffix, created, **kwargs)
    meta = pod["metadata"]
    meta |= {
        "uid": f"pod-uid-{suffix}",
        "resourceVersion": "812",
        "generateName": "task-1-",
        "annotations": {"devskyy.io/task-spec": json.dumps({"type": "diagnostic"})},
        "finalizers": ["batch.kubernetes.io/job-tracking"],
        "ownerReferences": [{"kind": "Job", "name": "task-1", "uid": JOB_UID}],
        "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}],
    }
    meta["labels"] |= {
        "batch.kubernetes.io/controller-uid": JOB_UID,
        "controller-uid": JOB_UID,
        "devskyy.io/task-id": "task-1",
        "app.kubernetes.io/managed-by": "devskyy-operator",
    }
    pod["spec"]["containers"][0] |= {
        "resources": {"limits": {"memory": "128Mi", "cpu": "1"}, "requests": {"cpu": "100m"}},
        "securityContext": {"readOnlyRootFilesystem": True, "runAsNonRoot": True},
        "env": [{"name": "DEVSKYY_TASK_SPEC", "value": "{}"}],
    }
    pod["spec"] |= {"volumes": [{"name": "tmp", "emptyDir": {}}], "tolerations": []}
    running = kwargs["phase"] == "Running"
    pod["status"] |= {
        "hostIP": "10.0.0.2",
        "podIP": "10.88.0.7",
        "qosClass": "Burstable",
        "conditions": [
            {"type": kind, "status": "True" if kind == "PodScheduled" or running else "False"}
            for kind in ("PodReadyToStartContainers", "Initialized", "Ready", "PodScheduled")
        ],
    }
    pod["status"]["containerStatuses"][0] |= {"imageID": "sha256:abc", "containerID": "c://1"}
    return pod


def oom_killed(pod: dict[str, Any]) -> dict[str, Any]:
    pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] = "OOMKilled"
    return pod


def evicted(pod: dict[str, Any]) -> dict[str, Any]:
    """Failed with the kubelet's DisruptionTarget: the Job's Ignore rule, not counted."""
    pod["status"] |= {"reason": "Evicted", "message": "The node was low on resource: memory. "}
    pod["status"]["conditions"].append({"type": "DisruptionTarget", "status": "True"})
    return pod


def succeeded(suffix: str = "b", created: str = "2026-01-05T12:00:30Z") -> dict[str, Any]:
    return full_pod(suffix, created, phase="Succeeded", exit_code=0, message=RESULT)


def failed(suffix: str = "a", code: int = 3) -> dict[str, Any]:
    return full_pod(suffix, phase="Failed", exit_code=code, message='{"error": "boom"}')


def running(suffix: str = "a", node: str | None = "node-a") -> dict[str, Any]:
    return full_pod(suffix, phase="Running", node=node)


def complete_job(**status: Any) -> dict[str, Any]:
    done = job_condition("Complete", "", "", "2026-01-05T12:01:00Z")
    return job_body({"conditions": [done], "succeeded": 1, "startTime": CREATED, **status})


def failed_job(reason: str, **status: Any) -> dict[str, Any]:
    done = job_condition("Failed", reason, "the Job failed", "2026-01-05T12:01:00Z")
    return job_body({"conditions": [done], "startTime": CREATED, **status})


def slim(*pods: dict[str, Any]) -> list[dict[str, Any]]:
    return [slim_pod(pod) for pod in pods]


def enough(job: dict[str, Any], pods: list[dict[str, Any]], **flags: bool) -> bool:
    return suffices(
        job,
        slim(*pods),
        node_known=flags.get("node_known", False),
        pending_matters=flags.get("pending_matters", False),
    )


# ----------------------------------------------------------------- the slim copy


@pytest.mark.parametrize(
    "pods",
    [
        [succeeded()],
        [failed(), succeeded()],
        [oom_killed(failed("a", 137)), oom_killed(failed("b", 137))],
        [evicted(failed("a", 137)), running("b")],
        [running("a")],
    ],
    ids=["success", "retried", "oom-twice", "evicted-then-running", "running"],
)
def test_the_slim_copy_decides_as_the_pod_does(pods: list[dict[str, Any]]) -> None:
    """Every reader of pods gives the same answer on the copies as on the pods."""
    for job in (
        complete_job(failed=1),
        failed_job("BackoffLimitExceeded", failed=2),
        job_body({"active": 1, "ready": 1, "failed": 1, "startTime": CREATED}),
    ):
        assert job_outcome(job, slim(*pods)) == job_outcome(job, pods)
    assert [pod_problem(p) for p in slim(*pods)] == [pod_problem(p) for p in pods]
    assert [counted_as(p) for p in slim(*pods)] == [counted_as(p) for p in pods]


def test_the_slim_copy_keeps_only_what_is_read() -> None:
    pod = succeeded()
    copy_ = slim_pod(pod)
    assert "managedFields" not in copy_["metadata"]
    assert "annotations" not in copy_["metadata"]
    assert "env" not in copy_["spec"]["containers"][0]
    assert [c["type"] for c in copy_["status"]["conditions"]] == ["PodScheduled"]
    assert copy_["spec"]["nodeName"] == "node-a"
    assert copy_["status"]["containerStatuses"][0]["state"]["terminated"]["message"] == RESULT
    assert set(copy_["metadata"]) == {"name", "namespace", "uid", "labels", "creationTimestamp"}
    assert set(copy_["status"]) == {
        "phase", "startTime", "conditions", "containerStatuses"
    }  # fmt: skip


# ----------------------------------------------------------------- when the copies suffice


def test_a_complete_job_needs_its_succeeded_pod() -> None:
    assert enough(complete_job(), [succeeded()])
    assert not enough(complete_job(), [])  # the Job event came first
    assert not enough(complete_job(), [running("b")])  # the pod's end not delivered yet
    # An Ignored eviction is an ended pod too, but not the attempt the Job counted.
    assert not enough(complete_job(), [evicted(failed("a", 137))])
    assert enough(complete_job(), [evicted(failed("a", 137)), succeeded()])


def test_a_failed_job_needs_each_counted_failure() -> None:
    job = failed_job("BackoffLimitExceeded", failed=2)
    assert enough(job, [failed("a"), failed("b")])
    assert not enough(job, [failed("a")])
    assert not enough(job, [failed("a"), evicted(failed("b", 137))])
    assert not enough(job, [failed("a"), failed("b"), running("c")])  # its end is not here
    permanent = failed_job("PodFailurePolicy", failed=1)
    assert enough(permanent, [failed("a", 42)])


def test_pods_the_job_saw_end_must_be_there_by_uid() -> None:
    job = job_body({"active": 0, "failed": 1, "startTime": CREATED,
                    "uncountedTerminatedPods": {"failed": ["pod-uid-b"]}})  # fmt: skip
    assert not enough(job, [failed("a")])
    assert not enough(job, [failed("a"), running("b")])
    assert enough(job, [failed("a"), failed("b")])


def test_the_first_ready_pod_needs_a_running_pod_with_its_node() -> None:
    job = job_body({"active": 1, "ready": 1, "startTime": CREATED})
    assert enough(job, [running("a")])
    assert not enough(job, [])
    assert not enough(job, [running("a", node=None)])
    # Only an earlier attempt's pod: its node need not be the ready one's.
    retried = job_body({"active": 1, "ready": 1, "failed": 1, "startTime": CREATED})
    assert not enough(retried, [failed("a")])
    assert enough(retried, [failed("a"), running("b")])
    assert enough(retried, [failed("a")], node_known=True)  # a pod problem, node known


def test_a_pending_pod_matters_only_past_the_deadline() -> None:
    job = job_body({"active": 1, "ready": 0, "failed": 1, "startTime": CREATED})
    assert enough(job, [failed("a")])  # looking for an OOM kill: it is there
    assert not enough(job, [failed("a")], pending_matters=True)  # the new pod may be stuck
    assert enough(job, [failed("a"), running("b")], pending_matters=True)
    leaving = running("b")
    leaving["metadata"]["deletionTimestamp"] = "2026-01-05T12:00:40Z"
    assert not enough(job, [failed("a"), leaving], pending_matters=True)


def test_decide_says_when_the_watched_pods_suffice() -> None:
    raw = body()
    raw["status"] = {"phase": "Running", "jobName": "task-1", "attempts": 1}
    task: TaskView = task_view_from_body(raw)
    young = job_body({"active": 1, "ready": 0, "startTime": CREATED})
    assert d.watched_pods_suffice(task, young, [], T0 + timedelta(seconds=5), SETTINGS)
    late = T0 + timedelta(seconds=61)
    assert d.wants_pods(task, young, late, SETTINGS)
    assert not d.watched_pods_suffice(task, young, [], late, SETTINGS)
    ready = job_body({"active": 1, "ready": 1, "startTime": CREATED})
    assert not d.watched_pods_suffice(task, ready, [], late, SETTINGS)
    raw["status"]["workerHost"] = "node-a"
    assert d.watched_pods_suffice(task_view_from_body(raw), ready, [], late, SETTINGS)


# ----------------------------------------------------------------- the store


def names(pods: list[dict[str, Any]] | None) -> list[str]:
    return [pod["metadata"]["name"] for pod in pods or []]


def test_the_store_holds_each_tasks_pods_until_deleted_or_forgotten() -> None:
    store = PodStore()
    store.put(running("a"))
    assert store.pods_of("tasks", "task-1", JOB_UID) is None  # the LIST is not in: list
    store.synced = True
    assert names(store.pods_of("tasks", "task-1", JOB_UID)) == ["task-1-a"]
    store.put(succeeded("a"))  # the same pod (uid), newer
    held = store.pods_of("tasks", "task-1", JOB_UID) or []
    assert held == [slim_pod(succeeded("a"))]
    older = copy.deepcopy(running("z"))
    older["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] = "uid-of-an-older-job"
    store.put(older)
    assert names(store.pods_of("tasks", "task-1", JOB_UID)) == ["task-1-a"]  # not the older Job's
    unlabelled = running("x")
    del unlabelled["metadata"]["labels"]["devskyy.io/task-id"]
    store.put(unlabelled)  # not a task's pod
    assert len(store) == 2
    store.drop(older)
    # A relist's stand-in for a pod deleted while the watch was away: key and uid only.
    store.drop({"metadata": {"namespace": "tasks", "name": "task-1-a", "uid": "pod-uid-a"}})
    assert (store.tasks, store.owners) == ({}, {})  # nothing held for a task without pods
    store.put(running("c"))
    store.put(failed("d"))
    store.forget("tasks", "task-1")
    assert (store.tasks, store.owners) == ({}, {})
    assert store.pods_of("tasks", "task-1", JOB_UID) == []
    store.drop(failed("d"))  # its DELETED after the task was forgotten: nothing to do
