"""DevSkyySchedule: start each run at its time (I/O around controller/schedule_plan.py).

One loop in the leader sleeps until the earliest next time of any schedule or
until a watch event marks a schedule dirty (the schedule changed, or one of
its runs did), then syncs those: read the schedule and its runs, plan, act,
write status. Level-based: the plan only needs what the cluster shows, so a
restart or a missed event changes nothing, and a run created twice is
AlreadyExists (its name is deterministic), which counts as created.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from pydantic import ValidationError

from devskyy_operator import keys
from devskyy_operator.controller.events import post_event
from devskyy_operator.controller.schedule_plan import (
    EVENT_CREATED,
    EVENT_DELETED,
    Plan,
    build_run,
    plan_schedule,
    run_from_body,
    run_name,
)
from devskyy_operator.crd import conditions as cond
from devskyy_operator.crd.schedule import ScheduleStatus, parse_schedule_spec
from devskyy_operator.crd.task_view import parse_time
from devskyy_operator.kube.client import TRANSPORT_ERRORS, ApiError, KubeClient, resource_path
from devskyy_operator.kube.errors import Conflict, NotFound
from devskyy_operator.settings import Settings

log = logging.getLogger("devskyy.schedules")
SYNC_RETRY_SECONDS = 2.0  # after a failed API call


@dataclass(frozen=True)
class ScheduleRef:
    """What an event about a schedule names (controller.events.TaskIdentity)."""

    name: str
    namespace: str
    uid: str
    generation: int = 0
    resource_version: str = ""


@dataclass
class ScheduleController:
    kube: KubeClient
    settings: Settings
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dirty: set[str] = field(default_factory=set)
    due: dict[str, datetime] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    def path(self, name: str | None = None, subresource: str | None = None) -> str:
        return resource_path(
            keys.API_VERSION, keys.SCHEDULE_PLURAL, self.namespace, name, subresource
        )

    def task_path(self, name: str | None = None) -> str:
        return resource_path(keys.API_VERSION, keys.PLURAL, self.namespace, name)

    def touch(self, name: str) -> None:
        """Sync `name` soon (a watch event about it or one of its runs)."""
        self.dirty.add(name)
        self.wake.set()

    def forget(self, name: str) -> None:
        self.dirty.discard(name)
        self.due.pop(name, None)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: sync what is dirty or due, then sleep until the next due time."""
        while not stop.is_set():
            now = datetime.now(UTC)
            names = self.dirty | {n for n, t in self.due.items() if t <= now}
            self.dirty.clear()
            self.wake.clear()
            for name in sorted(names):
                if stop.is_set():
                    return
                try:
                    await self.sync(name)
                except ApiError as exc:
                    log.warning("schedule %s not synced, retrying: %s", name, exc)
                    self.due[name] = now + timedelta(seconds=SYNC_RETRY_SECONDS)
                except TRANSPORT_ERRORS as exc:  # the API server did not answer
                    log.warning("schedule %s not synced, retrying: %s", name, exc)
                    self.due[name] = now + timedelta(seconds=SYNC_RETRY_SECONDS)
                except Exception:
                    log.exception("schedule %s not synced", name)
                    self.due[name] = now + timedelta(seconds=SYNC_RETRY_SECONDS)
            await self._sleep(stop)

    async def _sleep(self, stop: asyncio.Event) -> None:
        now = datetime.now(UTC)
        wait = self.settings.schedule_resync_seconds
        if self.due:
            # Past the due minute (the plan's times have no sub-second part).
            wait = min(wait, max((min(self.due.values()) - now).total_seconds(), 0) + 0.1)
        waiters = [asyncio.ensure_future(e.wait()) for e in (stop, self.wake)]
        try:
            await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def sync(self, name: str) -> Plan | None:
        """Read, plan, act, record: one pass over one schedule."""
        try:
            body = await self.kube.get(self.path(name))
        except NotFound:
            self.forget(name)
            return None
        meta = body.get("metadata") or {}
        ref = ScheduleRef(
            name, self.namespace, str(meta.get("uid")), int(meta.get("generation") or 0)
        )
        status = body.get("status") or {}
        try:
            spec = parse_schedule_spec(body.get("spec") or {})
        except ValidationError as exc:
            self.due.pop(name, None)
            invalid = ScheduleStatus(
                reason=cond.REASON_INVALID_SPEC,
                message=_errors(exc),
                next_schedule_time=None,
                observed_generation=ref.generation,
            )
            await self._record(ref, status, invalid)
            return None
        runs = []
        for task in await self.kube.list(
            self.task_path(), labelSelector=f"{keys.LABEL_SCHEDULE}={name}"
        ):
            owners = (task.get("metadata") or {}).get("ownerReferences") or ()
            if any(o.get("uid") == ref.uid for o in owners):
                run = run_from_body(name, task)
                if run is not None:
                    runs.append(run)
        plan = plan_schedule(
            name,
            spec,
            now=datetime.now(UTC),
            created_at=parse_time(meta.get("creationTimestamp")) or datetime.now(UTC),
            last_schedule_time=parse_time(status.get("lastScheduleTime")),
            last_successful_time=parse_time(status.get("lastSuccessfulTime")),
            runs=runs,
            generation=ref.generation,
        )
        await self._act(ref, body, plan)
        await self._record(ref, status, plan.status)
        if plan.wake_at is None:
            self.due.pop(name, None)
        else:
            self.due[name] = plan.wake_at
        return plan

    async def _act(self, ref: ScheduleRef, body: dict[str, Any], plan: Plan) -> None:
        for victim in plan.delete_active:
            await self.kube.delete(self.task_path(victim), propagation="Background")
            await self._event(ref, EVENT_DELETED, f"deleted active run {victim} (Replace)")
        if plan.start is not None:
            run = build_run(body, plan.start)
            try:
                await self.kube.create(self.task_path(), run)
                await self._event(
                    ref, EVENT_CREATED, f"created run {run_name(ref.name, plan.start)}"
                )
            except Conflict:  # AlreadyExists: a restart or another replica created it
                log.info("run %s exists already", run["metadata"]["name"])
        for old in plan.prune:
            await self.kube.delete(self.task_path(old), propagation="Background")
            await self._event(ref, EVENT_DELETED, f"deleted finished run {old} (history limit)")
        for event in plan.events:
            await self._event(ref, event.reason, event.message, event.warning)

    async def _event(
        self, ref: ScheduleRef, reason: str, message: str, warning: bool = False
    ) -> None:
        log.info("schedule %s: %s: %s", ref.name, reason, message)
        await post_event(self.kube, ref, reason, message, warning, kind=keys.SCHEDULE_KIND)

    async def _record(
        self, ref: ScheduleRef, current: dict[str, Any], status: ScheduleStatus
    ) -> None:
        patch = status.patch()
        if all(current.get(k) == v for k, v in patch.items()):
            return  # our own last write: no patch, no event, no loop
        with contextlib.suppress(NotFound):
            await self.kube.patch(self.path(ref.name, "status"), {"status": patch})


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def register_schedules(registry: kopf.OperatorRegistry) -> None:
    """Watch schedules and their runs; each event marks a schedule for a sync."""

    @kopf.on.event(keys.GROUP, keys.VERSION, keys.SCHEDULE_PLURAL, registry=registry)
    async def schedule_event(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        schedules: ScheduleController = memo["schedules"]
        name = str((body.get("metadata") or {}).get("name"))
        if type == "DELETED":
            schedules.forget(name)  # its runs go with it (owner references)
        else:
            schedules.touch(name)

    @kopf.on.event(
        keys.GROUP, keys.VERSION, keys.PLURAL,
        labels={keys.LABEL_SCHEDULE: kopf.PRESENT}, registry=registry,
    )  # fmt: skip
    async def run_event(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        schedules: ScheduleController = memo["schedules"]
        schedules.touch(str((body.get("metadata") or {}).get("labels", {})[keys.LABEL_SCHEDULE]))
