"""A watch of the task pods that have left Pending: the operator's eyes on pods.

One watch, our label and `status.phase!=Pending` (a server-side field
selector), started from a LIST (its resourceVersion) and resumed from the last
version seen, keeps `PodStore` current: a reconcile reads a task's pods there
instead of listing them (a namespaced pod LIST costs the apiserver O(pods in
the namespace), per task). A healthy task's pod comes as three or four events
(running, ready, ended, finalizer gone); Pending pods never come.

It is also the eyes for pod problems: an OOM kill or an eviction for the pod's
own storage overrun leaves no trace in the Job's status the operator can act on
(an evicted pod is Ignored: not even `failed` moves), so a pod that shows one
(`job/pod_problems.py`) reconciles its task at once (`on_problem`), where
`decide` takes it. Level-based underneath: a missed event is caught by the
next one (an evicted task overruns again) or, for an OOM kill, by the Job's
`failed` count; after a 410 Gone the store is listed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, cast

from devskyy_operator import keys
from devskyy_operator.controller.pod_store import PodStore, task_key
from devskyy_operator.job.pod_problems import pod_problem
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import Gone, api_error

log = logging.getLogger("devskyy.operator")

WATCHED_PODS = "status.phase!=Pending"  # Running, Succeeded, Failed, Unknown

# (namespace, task name): reconcile that task, looking at its pods.
OnProblem = Callable[[str, str], Awaitable[None]]


def problem_task(pod: Mapping[str, Any]) -> tuple[str, str] | None:
    """The task (namespace, name) of a pod whose problem may end it, or None."""
    problem = pod_problem(pod)
    if problem is None or problem.pending:
        return None
    return task_key(pod)


def selectors() -> dict[str, str]:
    return {
        "labelSelector": f"{keys.LABEL_MANAGED_BY}={keys.MANAGED_BY}",
        "fieldSelector": WATCHED_PODS,
    }


async def _tell(on_problem: OnProblem, pod: Mapping[str, Any]) -> None:
    found = problem_task(pod)
    if found is None:
        return
    try:
        await on_problem(*found)
    except Exception:  # one task's reconcile must not stop the watch
        log.exception("reconcile of %s after a pod problem failed", found[1])


async def watch_pods(
    kube: KubeClient,
    namespace: str,
    timeout: int,
    store: PodStore,
    on_problem: OnProblem,
    stop: asyncio.Event,
) -> None:
    """Until `stop`: list the watched pods into `store`, then follow their events,
    resuming from the last version seen."""
    path = resource_path("v1", "pods", namespace)
    version: str | None = None
    backoff = 0.2
    while not stop.is_set():
        events: AsyncIterator[dict[str, Any]] | None = None
        try:
            if version is None:
                pods, version = await kube.list_at(path, **selectors())
                store.replace(pods)
                log.info("pod watch synced: %d pods at version %s", len(pods), version)
                for pod in pods:
                    await _tell(on_problem, pod)
            events = kube.watch(path, version, timeout, **selectors())
            async for event in events:
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    raise api_error(int(obj.get("code") or 500), obj, "WATCH", path)
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind == "DELETED":
                    store.drop(obj)
                elif kind in ("ADDED", "MODIFIED"):
                    store.put(obj)
                    await _tell(on_problem, obj)
            backoff = 0.2
        except asyncio.CancelledError:
            raise
        except Gone:
            version, store.synced = None, False  # expired: list again
        except Exception as exc:
            log.warning("pod watch failed (%s); again in %.1fs", exc, backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, 5.0)
        finally:
            if events is not None:
                await cast(AsyncGenerator[Any, None], events).aclose()


async def pod_watch_loop(
    kube: KubeClient,
    namespace: str,
    timeout: int,
    store: PodStore,
    on_problem: OnProblem,
    stop: asyncio.Event,
) -> None:
    """`watch_pods`, cancelled as soon as `stop` is set (a watch blocks)."""
    watcher = asyncio.ensure_future(watch_pods(kube, namespace, timeout, store, on_problem, stop))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([watcher, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (watcher, stopped):
            task.cancel()
        await asyncio.gather(watcher, stopped, return_exceptions=True)
