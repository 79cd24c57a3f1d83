"""Kubernetes Events on task transitions, so `kubectl describe dst/<id>` tells the story."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from devskyy_agents.clock import utc_iso
from devskyy_operator import keys
from devskyy_operator.crd.status import clip
from devskyy_operator.crd.task_view import TaskIdentity
from devskyy_operator.kube.client import TRANSPORT_ERRORS, ApiError, KubeClient, resource_path

log = logging.getLogger("devskyy.operator")
COMPONENT = "devskyy-operator"


def build_event(
    task: TaskIdentity,
    reason: str,
    message: str,
    now: datetime,
    warning: bool = False,
    kind: str = keys.KIND,
) -> dict[str, object]:
    """A core/v1 Event about the task (or, with `kind`, another of our objects) (pure)."""
    stamp = utc_iso(now, timespec="seconds")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{task.name}.", "namespace": task.namespace},
        "involvedObject": {
            "apiVersion": keys.API_VERSION,
            "kind": kind,
            "name": task.name,
            "namespace": task.namespace,
            "uid": task.uid,
        },
        "reason": reason,
        "message": clip(message),
        "type": "Warning" if warning else "Normal",
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
    }


async def post_event(
    kube: KubeClient,
    task: TaskIdentity,
    reason: str,
    message: str,
    warning: bool = False,
    kind: str = keys.KIND,
) -> None:
    """Best effort: an event that cannot be posted never blocks the task."""
    body = build_event(task, reason, message, datetime.now(UTC), warning, kind)
    try:
        await kube.create(resource_path("v1", "events", task.namespace), body)
    except ApiError as exc:
        log.warning("event %s for %s not posted: %s", reason, task.name, exc)
    except TRANSPORT_ERRORS as exc:  # the API server did not answer
        log.warning("event %s for %s not posted: %s", reason, task.name, exc)
