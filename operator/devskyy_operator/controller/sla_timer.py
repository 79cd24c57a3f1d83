"""Flag a task the moment it misses an SLA objective, not only when it ends.

No polling of tasks: every task the watch shows is given its next SLA deadline
(`admission.sla.next_deadline`, O(log n) in one heap); the loop sleeps until the
earliest one, then judges that task on its newest known view and writes the
`SLABreached` condition through the reconciler's one status writer. A status
write that loses to a newer version is tried again a second later on the newer
view (which may have ended the task: then the end decides the objective).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from devskyy_agents.models import TaskType
from devskyy_operator.admission import sla
from devskyy_operator.controller.plan import Plan, SlaJudged
from devskyy_operator.controller.reconciler import TaskReconciler
from devskyy_operator.controller.statuses import sla_missed_status
from devskyy_operator.crd.task_view import TaskView, task_view_from_body
from devskyy_operator.metrics import SLA_OBJECTIVE_SECONDS, SLA_OBJECTIVE_TARGET
from devskyy_operator.settings import Settings
from devskyy_operator.shutdown import wait_or_timeout

log = logging.getLogger("devskyy.operator")
RETRY_SECONDS = 1.0
# A task of a shard this replica does not hold is looked at again this often, so a
# shard taken over gets its overdue flags within seconds (the holder writes them).
NOT_OWNED_RECHECK_SECONDS = 5.0
IDLE_SECONDS = 3600.0

Key = tuple[str, str]


def publish_objectives(settings: Settings) -> None:
    """The objectives as gauges: the burn-rate rules divide by the error budget."""
    for kind in TaskType:
        objective = settings.sla_for(kind)
        for name in sla.OBJECTIVES:
            SLA_OBJECTIVE_SECONDS.labels(kind.value, name).set(sla.bound_of(objective, name))
            SLA_OBJECTIVE_TARGET.labels(kind.value, name).set(objective.target)


class SlaTimer:
    def __init__(
        self,
        reconciler: TaskReconciler,
        tasks: Mapping[Key, TaskView],
        owns: Callable[[str], bool],
    ):
        self.reconciler = reconciler
        self.tasks = tasks  # the index's newest view of every task
        self.owns = owns  # whether this replica holds the task's shard (it alone writes)
        self.heap: list[tuple[datetime, Key]] = []
        self.scheduled: dict[Key, datetime] = {}
        self.wake = asyncio.Event()

    def track(self, task: TaskView) -> None:
        """(Re)schedule `task` at its next deadline; a finished one is dropped."""
        deadline = sla.next_deadline(task, self.reconciler.settings.sla_for(task.task_type))
        self._schedule((task.namespace, task.name), deadline)

    def forget(self, namespace: str, name: str) -> None:
        self.scheduled.pop((namespace, name), None)  # its heap entry is skipped when due

    def _schedule(self, key: Key, deadline: datetime | None) -> None:
        if deadline is None:
            self.scheduled.pop(key, None)
            return
        if self.scheduled.get(key) == deadline:
            return
        self.scheduled[key] = deadline
        if not self.heap or deadline < self.heap[0][0]:
            self.wake.set()
        heapq.heappush(self.heap, (deadline, key))
        if len(self.heap) > 2 * len(self.scheduled) + 64:
            # Rescheduled and forgotten entries pile up: keep the heap O(tasks).
            self.heap = [(d, k) for d, k in self.heap if self.scheduled.get(k) == d]
            heapq.heapify(self.heap)

    async def run(self, stop: asyncio.Event) -> None:
        # `stop` wakes the sleep below too: shutdown must not wait out a deadline.
        stopper = asyncio.ensure_future(self._wake_on(stop))
        try:
            await self._run(stop)
        finally:
            stopper.cancel()

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.wake.set()

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = datetime.now(UTC)
            pause = (self.heap[0][0] - now).total_seconds() if self.heap else IDLE_SECONDS
            if pause > 0:
                await wait_or_timeout(self.wake, pause)
                self.wake.clear()
                continue
            deadline, key = heapq.heappop(self.heap)
            if self.scheduled.get(key) != deadline:
                continue  # rescheduled or forgotten since
            del self.scheduled[key]
            try:
                await self.flag(key, now)
            except Exception:
                log.exception("SLA check of %s failed; again in %.0f s", key[1], RETRY_SECONDS)
                self._schedule(key, now + timedelta(seconds=RETRY_SECONDS))

    async def flag(self, key: Key, now: datetime) -> None:
        task = self.tasks.get(key)
        if task is None:
            return  # deleted (or refused as InvalidSpec: never indexed, nothing to judge)
        if not self.owns(key[1]):
            self._schedule(key, now + timedelta(seconds=NOT_OWNED_RECHECK_SECONDS))
            return
        if not task.phase:
            # New: its Queued status (built from the conditions it had) is about to be
            # written; flag it on the status after that one, a moment later.
            self._schedule(key, now + timedelta(seconds=RETRY_SECONDS))
            return
        objective = self.reconciler.settings.sla_for(task.task_type)
        verdict = sla.live_verdict(task, now, objective)
        if not verdict.missed:
            self.track(task)
            return
        plan = Plan(
            status=sla_missed_status(task, verdict, now),
            after=(SlaJudged(task.task_type.value, verdict),),
        )
        written = await self.reconciler.run(plan, task)
        if written is None:
            self._schedule(key, now + timedelta(seconds=RETRY_SECONDS))
        else:
            self.track(task_view_from_body(written))
