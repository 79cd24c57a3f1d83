"""A watch of the task pods that have left Pending: the operator's eyes on pods.

One `Informer` (our label and `status.phase!=Pending`, a server-side field
selector: Running, Succeeded, Failed, Unknown) keeps `PodStore` current: a
reconcile reads a task's pods there instead of listing them (a namespaced pod
LIST costs the apiserver O(pods in the namespace), and a task needed two). A
healthy task's pod comes as a few events (running, ready, ended, finalizer
gone, deleted with its Job); a Pending pod never comes.

It is also the eyes for pod problems: an OOM kill or an eviction for the pod's
own storage overrun leaves no trace in the Job's status the operator can act on
(an evicted pod is Ignored: not even `failed` moves), so a pod that shows one
(`job/pod_problems.py`) reconciles its task at once (`on_problem`), where
`decide` takes it. Level-based underneath: a missed event is caught by the
next one (an evicted task overruns again) or, for an OOM kill, by the Job's
`failed` count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from devskyy_operator import keys
from devskyy_operator.controller.pod_store import PodStore, task_key
from devskyy_operator.job.pod_problems import pod_problem
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.informer import Informer

log = logging.getLogger("devskyy.operator")

WATCHED_PODS = "status.phase!=Pending"

# (namespace, task name): reconcile that task, looking at its pods.
OnProblem = Callable[[str, str], Awaitable[None]]


def problem_task(pod: Mapping[str, Any]) -> tuple[str, str] | None:
    """The task (namespace, name) of a pod whose problem may end it, or None."""
    problem = pod_problem(pod)
    if problem is None or problem.pending:
        return None
    return task_key(pod)


class PodWatch:
    """The task pods into `store`; each pod with a problem to `on_problem`."""

    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        timeout_seconds: int,
        store: PodStore,
        on_problem: OnProblem,
    ) -> None:
        self.store = store
        self.on_problem = on_problem
        self.informer = Informer(
            kube, resource_path("v1", "pods", namespace), self.on_event,
            timeout_seconds=timeout_seconds, name="pod",
            labelSelector=f"{keys.LABEL_MANAGED_BY}={keys.MANAGED_BY}",
            fieldSelector=WATCHED_PODS,
        )  # fmt: skip

    async def on_event(self, kind: str, pod: dict[str, Any]) -> None:
        if kind == "DELETED":
            self.store.drop(pod)
            return
        self.store.put(pod)
        found = problem_task(pod)
        if found is not None:  # a failing reconcile is logged by the informer
            await self.on_problem(*found)

    async def run_until(self, stop: asyncio.Event) -> None:
        """Until `stop`; the store is `synced` once the first LIST is in."""

        async def mark_synced() -> None:
            await self.informer.synced.wait()
            self.store.synced = True
            log.info("pod watch synced: %d pods", len(self.store))

        marker = asyncio.ensure_future(mark_synced())
        try:
            await self.informer.run_until(stop)
        finally:
            marker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await marker
