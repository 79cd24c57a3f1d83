"""kopf wiring for DevSkyyTask (the operator's Jobs are watched by
`Runtime.job_loop`, outside kopf: 4-5 events per task at ~1.5 ms of kopf's
per-event machinery each were a third of the operator's CPU).

Only watch events are used (no kopf create/update/delete machinery), so kopf
adds no finalizers and no annotations: deleting a task never waits for the
operator, and uninstalling the operator never leaves stuck resources. Level-
based resync (admission loop, resync loop) covers anything an event misses.
Every replica indexes every event (the admission gauges and the per-shard
counts need all tasks); only the holder of a task's shard acts on it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import kopf
from pydantic import ValidationError

from devskyy_operator import keys
from devskyy_operator.controller.login import KopfLogin
from devskyy_operator.controller.runtime import Runtime
from devskyy_operator.crd import conditions as cond
from devskyy_operator.crd.task_view import TaskView, task_view_from_body

log = logging.getLogger("devskyy.operator")


def register(registry: kopf.OperatorRegistry) -> None:
    """Attach the handlers to `registry` (kept explicit: no import-time globals)."""

    kopf_login = KopfLogin()

    @kopf.on.login(registry=registry)
    async def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
        return await kopf_login(memo["runtime"].kube.config)

    @kopf.on.event(keys.GROUP, keys.VERSION, keys.PLURAL, registry=registry)
    async def task_event(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        runtime: Runtime = memo["runtime"]
        meta = body.get("metadata") or {}
        if type == "DELETED":
            runtime.forget(meta.get("namespace", ""), meta.get("name", ""))
            if runtime.shards.owns(meta.get("name", "")):  # the shard's holder records it
                await runtime.reconciler.cancelled(dict(body))
            runtime.admitter.wake.set()
            return
        key = (meta.get("namespace", ""), meta.get("name", ""))
        known = runtime.index.tasks.get(key)
        ours = _written_by_us(known, body)
        if not ours:  # our own patch's echo: its answer was indexed and tracked already
            with contextlib.suppress(ValidationError):  # reconcile() reports it on the task
                view = task_view_from_body(body, known)
                runtime.index.upsert(view)
                runtime.sla.track(view)  # its next SLA deadline
        phase = (body.get("status") or {}).get("phase")
        if (not phase and key not in runtime.index.deferred) or (
            phase in cond.TERMINAL_PHASES and not ours
        ):
            # New task: validate, record in Redis, hand to admission (which writes
            # Queued only if it cannot admit it at once). A terminal one someone
            # else wrote: check that the outcome is ours (one Redis read). Other
            # phases are driven by the admission loop, Job events and the resync
            # loop, so our own status patches do not each cost another round of
            # API reads.
            async with runtime.locks[key]:
                if runtime.shards.owns(key[1]):  # every replica indexes; one acts
                    await runtime.reconciler.reconcile(dict(body))
        runtime.admitter.wake.set()


def _written_by_us(known: TaskView | None, body: Mapping[str, Any]) -> bool:
    """The event shows the very version our own status patch returned."""
    if known is None:
        return False
    version = (body.get("metadata") or {}).get("resourceVersion")
    return bool(version) and version == known.resource_version
