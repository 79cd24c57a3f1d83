"""Admission: start the best waiting tasks while their type has free slots.

One loop per active operator (leader election makes that one per cluster). It
decides over the in-memory index (pure `admission.admit`), creates one Job per
admitted task and marks the task Running. Job names equal task names, so a
retried or duplicated create gets 409 and adopts only a Job owned by the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from devskyy_agents.logs import task_context
from devskyy_operator import conditions as cond
from devskyy_operator.admission import admit, is_due
from devskyy_operator.events import post_event
from devskyy_operator.job_builder import build_job
from devskyy_operator.kube.client import ApiError
from devskyy_operator.metrics import ADMISSION_WAIT, READY_BACKLOG, RUNNING_TASKS, WAITING_TASKS
from devskyy_operator.reconciler import TaskReconciler, owned_by
from devskyy_operator.task_index import TaskIndex
from devskyy_operator.task_view import TaskView

log = logging.getLogger("devskyy.operator")
START_CONCURRENCY = 16


class Admitter:
    def __init__(self, reconciler: TaskReconciler, index: TaskIndex, interval: float = 2.0):
        self.reconciler = reconciler
        self.index = index
        self.interval = interval
        self.wake = asyncio.Event()
        self.stopping = False

    async def run(self, stop: asyncio.Event) -> None:
        stopper = asyncio.ensure_future(stop.wait())
        stopper.add_done_callback(lambda _: setattr(self, "stopping", True))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.interval)
            self.wake.clear()
            try:
                await self.round()
            except Exception:
                log.exception("admission round failed; retrying")

    async def round(self) -> None:
        now = datetime.now(UTC)
        settings = self.reconciler.settings
        waiting = [t for t in self.index.waiting() if t.phase == cond.PHASE_QUEUED]
        running = self.index.running_by_type()
        chosen = admit(waiting, running, settings.concurrency, now, default_limit=10)
        self.publish_gauges(waiting, running, now)
        # Each start is create Job + patch status + event; overlap them (bounded)
        # so admitting a burst costs round trips in parallel, not in sequence.
        limit = asyncio.Semaphore(START_CONCURRENCY)

        async def start_one(task: TaskView) -> None:
            async with limit:
                if not self.stopping:  # on SIGTERM, admit nothing more
                    await self.start(task, now)

        await asyncio.gather(*(start_one(t) for t in chosen))

    def publish_gauges(
        self, waiting: list[TaskView], running: dict[str, int], now: datetime
    ) -> None:

        for kind in self.reconciler.settings.concurrency:
            RUNNING_TASKS.labels(kind).set(running.get(kind, 0))
            of_kind = [t for t in waiting if t.task_type.value == kind]
            WAITING_TASKS.labels(kind).set(len(of_kind))
            READY_BACKLOG.labels(kind).set(sum(1 for t in of_kind if is_due(t, now)))

    async def start(self, task: TaskView, now: datetime) -> None:
        kube = self.reconciler.kube
        manifest = build_job(task, self.reconciler.settings, now)
        try:
            job, created = await kube.create_or_get(
                self.reconciler.job_path(task.namespace), manifest
            )
        except ApiError as exc:
            log.warning("job for %s not created: %s", task.name, exc)
            return
        if not owned_by(job, task.uid):
            log.info("job %s exists for an older task of that name; waiting", task.name)
            return
        self.index.mark_admitted(task)
        conditions = cond.set_condition(
            task.status.get("conditions"), type=cond.TYPE_ADMITTED, status=cond.STATUS_TRUE,
            reason=cond.REASON_ADMITTED, message=f"job {task.name} created",
            now=now, observed_generation=task.generation,
        )  # fmt: skip
        admitted = await self.reconciler.patch_status(
            task,
            {
                "phase": cond.PHASE_RUNNING,
                "reason": cond.REASON_ADMITTED,
                "jobName": task.name,
                "admittedAt": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "conditions": conditions,
            },
        )
        if created and admitted:
            ADMISSION_WAIT.labels(task.task_type.value).observe(
                max(0.0, (now - task.queued_at).total_seconds())
            )
            with task_context(task.name, task.task_type.value, task.user_id):
                log.info("Processing task %s (type: %s)", task.name, task.task_type.value)
            await post_event(kube, task, cond.REASON_ADMITTED, f"job {task.name} created")
