"""A watch of the task pods that fail, and only those: the eyes for pod problems.

An OOM kill or an eviction for the pod's own storage overrun leaves no trace in
the Job's status the operator can act on (an evicted pod is Ignored: not even
`failed` moves), and listing pods whenever a Job has no ready pod would cost a
LIST at the end of every healthy task. So the operator watches pods with our
label and `status.phase=Failed` (a server-side field selector): a healthy task
sends nothing, a failed attempt one event with the pod's full status, and
`job/pod_problems.py` reads the problem off it. A problem of a running task
makes its reconcile read the pods (`look_at_pods`), where `decide` takes it.

Level-based underneath: a missed event (a restart) is caught by the next one (an
evicted task overruns again) or, for an OOM kill, by the Job's `failed` count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, cast

from devskyy_operator import keys
from devskyy_operator.job.pod_problems import pod_problem
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import Gone, api_error

log = logging.getLogger("devskyy.operator")

FAILED_PODS = "status.phase=Failed"

# (namespace, task name): reconcile that task, reading its pods.
OnProblem = Callable[[str, str], Awaitable[None]]


def problem_task(pod: Mapping[str, Any]) -> tuple[str, str] | None:
    """The task (namespace, name) of a failed pod whose problem may end it, or None."""
    problem = pod_problem(pod)
    if problem is None or problem.pending:
        return None
    meta = pod.get("metadata") or {}
    name = (meta.get("labels") or {}).get(keys.LABEL_TASK_ID)
    return (str(meta.get("namespace", "")), str(name)) if name else None


async def watch_failed_pods(
    kube: KubeClient, namespace: str, timeout: int, on_problem: OnProblem, stop: asyncio.Event
) -> None:
    """Until `stop`: watch failed task pods, resuming from the last version seen."""
    path = resource_path("v1", "pods", namespace)
    version: str | None = None
    backoff = 0.2
    while not stop.is_set():
        events = kube.watch(
            path, version, timeout, labelSelector=f"{keys.LABEL_MANAGED_BY}={keys.MANAGED_BY}",
            fieldSelector=FAILED_PODS,
        )  # fmt: skip
        try:
            async for event in events:
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    raise api_error(int(obj.get("code") or 500), obj, "WATCH", path)
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version or "")
                found = problem_task(obj) if kind in ("ADDED", "MODIFIED") else None
                if found is not None:
                    try:
                        await on_problem(*found)
                    except Exception:  # one task's reconcile must not stop the watch
                        log.exception("reconcile of %s after a pod problem failed", found[1])
            backoff = 0.2
        except asyncio.CancelledError:
            raise
        except Gone:
            version = None  # expired: start over (existing failed pods come as ADDED)
        except Exception as exc:
            log.warning("failed-pod watch failed (%s); again in %.1fs", exc, backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, 5.0)
        finally:
            await cast(AsyncGenerator[Any, None], events).aclose()


async def failed_pod_loop(
    kube: KubeClient, namespace: str, timeout: int, on_problem: OnProblem, stop: asyncio.Event
) -> None:
    """`watch_failed_pods`, cancelled as soon as `stop` is set (a watch blocks)."""
    watcher = asyncio.ensure_future(watch_failed_pods(kube, namespace, timeout, on_problem, stop))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([watcher, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (watcher, stopped):
            task.cancel()
        await asyncio.gather(watcher, stopped, return_exceptions=True)
