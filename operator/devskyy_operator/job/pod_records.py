"""The task pods as the pod watch delivered them, and when they are enough (pure).

The operator watches the task pods that have left Pending (`controller/pod_watch.py`)
and keeps a slim copy of each (`slim_pod`: only what `outcome.py` and
`pod_problems.py` read), so a reconcile decides on those instead of a LIST of
the Job's pods, a LIST that costs the apiserver O(pods in the namespace).

The copies may lag the Job: pods and Jobs are watched apart, and a Job event may
arrive before the pod change the Job controller counted. `suffices` says when
they do not lag in anything the decision reads; then the reconcile lists.
A pod is never shown Pending (the watch leaves those out): when a Pending pod
matters (a stuck one, past the pending deadline) the copies must show every
active pod running, else it lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from devskyy_operator.job.builder import TASK_CONTAINER
from devskyy_operator.job.outcome import job_finished

# The Job controller's label on its pods: which Job (uid) a pod belongs to.
JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
ENDED_PHASES = frozenset({"Succeeded", "Failed"})
# Pod conditions read: PodScheduled (pod_problems: Unschedulable), DisruptionTarget
# (the Job's Ignore rule: such a failure is not counted, see `counted_as`).
READ_CONDITIONS = frozenset({"PodScheduled", "DisruptionTarget"})
_METADATA = ("name", "namespace", "uid", "labels", "creationTimestamp", "deletionTimestamp")
_STATUS = ("phase", "reason", "message", "startTime")


def slim_pod(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a pod the decisions read, in the pod's own shape (a few hundred
    bytes plus the termination message, instead of the pod's 5-10 KB)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    containers = [
        {"name": c.get("name"), "resources": {"limits": (c.get("resources") or {}).get("limits")}}
        for c in spec.get("containers") or ()
        if c.get("name") == TASK_CONTAINER
    ]
    slim_spec: dict[str, Any] = {"containers": containers}
    if spec.get("nodeName"):
        slim_spec["nodeName"] = spec["nodeName"]
    slim_status: dict[str, Any] = {k: status[k] for k in _STATUS if status.get(k) is not None}
    slim_status["conditions"] = [
        c for c in status.get("conditions") or () if c.get("type") in READ_CONDITIONS
    ]
    slim_status["containerStatuses"] = [
        {"name": c.get("name"), "state": c.get("state"), "lastState": c.get("lastState")}
        for c in status.get("containerStatuses") or ()
        if c.get("name") == TASK_CONTAINER
    ]
    return {
        "metadata": {k: meta[k] for k in _METADATA if meta.get(k) is not None},
        "spec": slim_spec,
        "status": slim_status,
    }


def job_uid_of(pod: Mapping[str, Any]) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get(JOB_UID_LABEL) or "")


def ended(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ENDED_PHASES


def _disrupted(pod: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "DisruptionTarget" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or ()
    )


def counted_as(pod: Mapping[str, Any]) -> str | None:
    """How the Job counts this pod: "succeeded", "failed" or None (not ended, or a
    failure the Job's Ignore rule leaves uncounted: a DisruptionTarget). Never a
    pod the Job does not count, so counts of these never overstate the Job's."""
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return "succeeded"
    if phase == "Failed" and not _disrupted(pod):
        return "failed"
    return None


def suffices(
    job: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    *,
    node_known: bool,
    pending_matters: bool,
) -> bool:
    """Whether `pods` (the watch's copies of this Job's pods) show every pod fact
    the Job's status reports, so a LIST would show nothing the decision reads
    that they lack:

    - each attempt the Job counted (`succeeded`, `failed`) is there, ended, as
      a pod it counts (the exit code, the termination message, an OOM kill of
      the last one);
    - each pod the Job saw end but has not counted yet (`uncountedTerminatedPods`,
      by uid) is there, ended;
    - a finished Job: no pod there is still running (all its pods ended first);
    - a ready pod, when the task does not know its node yet (`node_known`): a
      running pod there, with its node;
    - `pending_matters` (no pod ready and past the pending deadline, where a
      stuck Pending pod is a problem): as many running pods there as the Job has
      active ones, so none of those is Pending.

    A counted pod deleted since (by hand) is missing from a LIST as well: such a
    task lists, as it did before the watch. Not covered: an Ignored (disrupted)
    pod after the last counted one, whose absence changes only the exit code
    shown for a Job that ran out of time between two pods.
    """
    status = job.get("status") or {}
    seen = {"succeeded": 0, "failed": 0}
    for pod in pods:
        kind = counted_as(pod)
        if kind is not None:
            seen[kind] += 1
    if any(seen[k] < int(status.get(k) or 0) for k in seen):
        return False
    ended_uids = {str((pod.get("metadata") or {}).get("uid")) for pod in pods if ended(pod)}
    uncounted = status.get("uncountedTerminatedPods") or {}
    uncounted_uids = [uid for k in ("succeeded", "failed") for uid in uncounted.get(k) or ()]
    if any(uid not in ended_uids for uid in uncounted_uids):
        return False
    running = [pod for pod in pods if not ended(pod)]
    if job_finished(job):
        return not running
    if int(status.get("ready") or 0) > 0 and not node_known:
        return any((pod.get("spec") or {}).get("nodeName") for pod in running)
    if pending_matters:
        live = [pod for pod in running if not (pod.get("metadata") or {}).get("deletionTimestamp")]
        return len(live) >= int(status.get("active") or 0)
    return True
