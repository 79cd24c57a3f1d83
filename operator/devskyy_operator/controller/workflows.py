"""kopf wiring and I/O for DevSkyyWorkflow: read, decide (workflow.decide), carry out.

Runs only in the leader (kopf runs in `main.lead`). Event-driven, no polling
loop: a workflow event, and any event of a task labelled with a workflow (its
steps), reconcile that workflow from fresh reads: the step tasks are listed by
label (a consistent read), so a missed event or an operator restart changes
nothing. Step tasks are named `<workflow>-<step>` and owned by the workflow
(ownerReference): a create answered 409 is success, so no step starts twice,
and deleting the workflow lets the garbage collector delete its step tasks,
which cancels their Jobs as deleting any task does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import Invalid, NotFound, ServerError, TooManyRequests
from devskyy_operator.kube.transport import TRANSPORT_ERRORS
from devskyy_operator.redisq.scripts import Redis
from devskyy_operator.redisq.workflows import record_workflow_status
from devskyy_operator.workflow import decide as wd
from devskyy_operator.workflow import status as st
from devskyy_operator.workflow.spec import parse_workflow_spec

log = logging.getLogger("devskyy.workflows")
# kopf does not retry an on.event handler: a transient API error is retried here, with
# backoff (1, 2, 4, 8, 16 s), before the next event of the workflow or a step task.
TRANSIENT: tuple[type[BaseException], ...] = (TooManyRequests, ServerError, *TRANSPORT_ERRORS)
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0)


def workflows_path(namespace: str, name: str | None = None) -> str:
    return resource_path(keys.API_VERSION, keys.WORKFLOW_PLURAL, namespace, name)


def tasks_path(namespace: str, name: str | None = None) -> str:
    return resource_path(keys.API_VERSION, keys.PLURAL, namespace, name)


def step_task_body(workflow: Mapping[str, Any], start: wd.StepStart) -> dict[str, Any]:
    """The DevSkyyTask of one step: labelled with its workflow and step, owned by it."""
    meta = workflow["metadata"]
    return {
        "apiVersion": keys.API_VERSION,
        "kind": keys.KIND,
        "metadata": {
            "name": start.task_name,
            "namespace": meta["namespace"],
            "labels": {
                keys.LABEL_WORKFLOW: meta["name"],
                keys.LABEL_WORKFLOW_STEP: start.step,
            },
            "ownerReferences": [
                {
                    "apiVersion": keys.API_VERSION,
                    "kind": keys.WORKFLOW_KIND,
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": start.spec,
    }


def observed_task(body: Mapping[str, Any], workflow_uid: str) -> wd.ObservedTask:
    owners = (body.get("metadata") or {}).get("ownerReferences") or ()
    status = body.get("status") or {}
    return wd.ObservedTask(
        phase=status.get("phase"),
        owned=any(o.get("uid") == workflow_uid for o in owners),
        reason=status.get("reason"),
        message=status.get("message"),
        result=status.get("result"),
    )


@dataclass
class WorkflowController:
    kube: KubeClient
    redis: Redis
    record_ttl_seconds: int  # Settings.task_record_ttl_seconds: finished records expire
    locks: defaultdict[tuple[str, str], asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock)
    )

    async def reconcile_by_name(self, namespace: str, name: str) -> None:
        for delay in (*RETRY_DELAYS, None):
            try:
                await self._reconcile_once(namespace, name)
                return
            except TRANSIENT as exc:
                if delay is None:
                    raise
                log.warning("workflow %s: %s; again in %ss", name, exc, delay)
                await asyncio.sleep(delay)

    async def _reconcile_once(self, namespace: str, name: str) -> None:
        async with self.locks[(namespace, name)]:
            try:
                body = await self.kube.get(workflows_path(namespace, name))
            except NotFound:
                self.locks.pop((namespace, name), None)
                return
            await self._reconcile(body)

    async def _reconcile(self, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
        current = body.get("status") or {}
        if meta.get("deletionTimestamp") or current.get("phase") in st.WORKFLOW_DONE:
            return  # finished (or going: the garbage collector takes the step tasks)
        generation = meta.get("generation")
        status = wd.refusal(body.get("spec") or {}, generation)
        plan = None
        if status is None:
            spec = parse_workflow_spec(body["spec"])
            listed = await self.kube.list(
                tasks_path(namespace), labelSelector=f"{keys.LABEL_WORKFLOW}={name}"
            )
            tasks = {
                (t["metadata"].get("labels") or {}).get(keys.LABEL_WORKFLOW_STEP, ""): (
                    observed_task(t, uid)
                )
                for t in listed
            }
            previous = st.previous_steps(current)
            plan = wd.decide(name, spec, tasks, previous, generation)
            status = plan.status
            for start in plan.create:
                status = await self._create(body, start, status)
            for task_name in plan.cancel:
                log.info("workflow %s cancelled: deleting task %s", name, task_name)
                await self.kube.delete(tasks_path(namespace, task_name), propagation="Background")
        if status.same_as(current):
            return
        try:
            path = workflows_path(namespace, name) + "/status"
            await self.kube.patch(path, {"status": status.patch()})
        except NotFound:
            return
        user = _user_of(body.get("spec") or {})
        if user:  # the copy GET /v1/workflows reads (also of kubectl-created workflows)
            finished = status.phase in st.WORKFLOW_DONE
            await record_workflow_status(
                self.redis, name, user, body.get("spec") or {}, status.patch(), time.time(),
                finished_ttl_seconds=self.record_ttl_seconds if finished else None,
            )  # fmt: skip
        if status.phase in st.WORKFLOW_DONE:
            log.info("workflow %s %s (%s)", name, status.phase, status.message or status.progress)

    async def _create(
        self, workflow: Mapping[str, Any], start: wd.StepStart, status: st.WorkflowStatus
    ) -> st.WorkflowStatus:
        """Create a step task; 409 is success (a restart, or an earlier event got there
        first). A task the apiserver refuses (e.g. over the resource maxima) fails the step."""
        namespace = workflow["metadata"]["namespace"]
        try:
            _, created = await self.kube.create_or_get(
                tasks_path(namespace), step_task_body(workflow, start)
            )
        except Invalid as exc:
            failed = st.StepStatus(
                name=start.step, phase=st.STEP_FAILED, reason=st.REASON_INVALID_STEP_INPUT,
                message=f"step {start.step}: task {start.task_name} refused: {exc}",
            )  # fmt: skip
            steps = [failed if s.name == start.step else s for s in status.steps]
            return status.model_copy(update={"steps": steps})
        if created:
            log.info("workflow %s: step %s started as task %s",
                     workflow["metadata"]["name"], start.step, start.task_name)  # fmt: skip
        return status


def _user_of(raw: Mapping[str, Any]) -> str | None:
    """The user of the first step (the workflow's user), read leniently (refused specs too)."""
    steps = raw.get("steps") or [{}]
    first = steps[0] if isinstance(steps[0], Mapping) else {}
    user = ((first.get("task") or {}).get("input") or {}).get("user_id")
    return user if isinstance(user, str) and user else None


def register_workflows(registry: kopf.OperatorRegistry) -> None:
    """Attach the workflow handlers (memo["workflows"] is a WorkflowController)."""

    @kopf.on.event(keys.GROUP, keys.VERSION, keys.WORKFLOW_PLURAL, registry=registry)
    async def workflow_event(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        if type == "DELETED":
            return
        meta = body.get("metadata") or {}
        await memo["workflows"].reconcile_by_name(meta.get("namespace", ""), meta.get("name", ""))

    @kopf.on.event(
        keys.GROUP, keys.VERSION, keys.PLURAL,
        labels={keys.LABEL_WORKFLOW: kopf.PRESENT}, registry=registry,
    )  # fmt: skip
    async def step_task_event(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        meta = body.get("metadata") or {}
        workflow = (meta.get("labels") or {}).get(keys.LABEL_WORKFLOW, "")
        await memo["workflows"].reconcile_by_name(meta.get("namespace", ""), workflow)
