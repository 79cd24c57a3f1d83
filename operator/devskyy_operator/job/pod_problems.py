"""What went wrong with one task pod, read off its status (pure).

The Job controller sees exit codes and pod conditions only (that is all a
podFailurePolicy can match), so these stay invisible to it:

- an OOM kill: exit 137 is any SIGKILL; the container's `terminated.reason`
  "OOMKilled" is the kernel's word for it;
- an eviction for the pod's own ephemeral-storage overrun: the kubelet marks it
  `DisruptionTarget` like any node-pressure eviction, so the Job's Ignore rule
  would re-run it, overrun again, forever; the pod's `reason` "Evicted" and the
  eviction manager's message tell the two apart;
- a pod stuck Pending: an image the kubelet cannot pull, a request no node can
  hold. The Job waits out activeDeadlineSeconds (kubernetes/kubernetes#58384).

`controller/decide.py` decides what to do about a problem (settings: which
problems end the task now, the pending deadline); `job/outcome.py` names the
final reason of a failed Job after the problem of its last attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devskyy_operator.crd.conditions import (
    REASON_EPHEMERAL_STORAGE,
    REASON_IMAGE_PULL_FAILED,
    REASON_OOM_KILLED,
    REASON_UNSCHEDULABLE,
)
from devskyy_operator.crd.task_view import parse_time
from devskyy_operator.job.builder import TASK_CONTAINER

CONTAINER_OOM_KILLED = "OOMKilled"  # the runtime's terminated.reason
POD_REASON_EVICTED = "Evicted"  # the kubelet's status.reason of an evicted pod
# The kubelet's waiting reasons of an image it could not get (pkg/kubelet/images).
IMAGE_PULL_WAITING_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
# The eviction manager's messages for a pod over its own limits
# (pkg/kubelet/eviction/helpers.go: emptyDir sizeLimit, pod and container
# ephemeral-storage limits); node-pressure evictions say "The node was low on ...".
OWN_STORAGE_EVICTION_MARKERS = (
    "Usage of EmptyDir volume",
    "ephemeral local storage",
    "local ephemeral storage limit",
)
PENDING_PROBLEMS = frozenset({REASON_IMAGE_PULL_FAILED, REASON_UNSCHEDULABLE})


@dataclass(frozen=True)
class PodProblem:
    """One pod's problem: the task reason, the kubelet's or scheduler's message."""

    reason: str
    message: str
    pod: str
    since: datetime | None  # pending problems: when the pod was created

    @property
    def pending(self) -> bool:
        """The pod never ran: the problem lasts until a deadline ends it."""
        return self.reason in PENDING_PROBLEMS


def _task_container(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        if status.get("name") == TASK_CONTAINER:
            return status  # type: ignore[no-any-return]
    return {}


def _oom_killed(container: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for holder in (container.get("state") or {}, container.get("lastState") or {}):
        terminated = holder.get("terminated") or {}
        if terminated.get("reason") == CONTAINER_OOM_KILLED:
            return terminated
    return None


def _unschedulable(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == REASON_UNSCHEDULABLE
        ):
            return condition  # type: ignore[no-any-return]
    return None


def pod_problem(pod: Mapping[str, Any]) -> PodProblem | None:
    """The problem `pod` shows, or None (running, pending normally, ended otherwise)."""
    metadata = pod.get("metadata") or {}
    status = pod.get("status") or {}
    name = str(metadata.get("name", ""))
    created = parse_time(metadata.get("creationTimestamp"))
    container = _task_container(pod)
    killed = _oom_killed(container)
    if killed is not None:
        limit = _memory_limit(pod)
        where = f" at its memory limit {limit}" if limit else ""
        code = killed.get("exitCode")
        message = f"container {TASK_CONTAINER} was OOM-killed{where} (exit {code})"
        return PodProblem(REASON_OOM_KILLED, message, name, None)
    message = str(status.get("message") or "")
    if status.get("reason") == POD_REASON_EVICTED and any(
        marker in message for marker in OWN_STORAGE_EVICTION_MARKERS
    ):
        return PodProblem(REASON_EPHEMERAL_STORAGE, message.strip(), name, None)
    if status.get("phase") != "Pending":
        return None
    unschedulable = _unschedulable(pod)
    if unschedulable is not None:
        text = str(unschedulable.get("message") or "no node can run the pod")
        return PodProblem(REASON_UNSCHEDULABLE, text, name, created)
    waiting = (container.get("state") or {}).get("waiting") or {}
    if waiting.get("reason") in IMAGE_PULL_WAITING_REASONS:
        text = f"{waiting['reason']}: {waiting.get('message') or 'image pull failed'}"
        return PodProblem(REASON_IMAGE_PULL_FAILED, text, name, created)
    return None


def _memory_limit(pod: Mapping[str, Any]) -> str | None:
    for container in (pod.get("spec") or {}).get("containers") or ():
        if container.get("name") == TASK_CONTAINER:
            limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
            return str(limit) if limit else None
    return None
