"""Schedules from the API become DevSkyySchedule CRs; their status comes back to Redis.

The API writes the desired schedule and a revision (`redisq.schedules`); each
pass here applies every pending name: create the CR, or replace the spec of the
one it created earlier, or delete it when the name is gone, then settle that
revision (a newer change stays pending). Level-based and idempotent: a crash
between the apply and the settle only applies the same state again, and two
bridges racing end in the same CR. A CR of that name that was not created
through the API (kubectl) is left alone. The statuses of the API's CRs are
copied into Redis, which is all `GET /v1/schedules/{name}` can read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from devskyy_operator import keys
from devskyy_operator.bridge.manifest import SOURCE_API
from devskyy_operator.job.builder import label_value
from devskyy_operator.kube.client import TRANSPORT_ERRORS, KubeClient, resource_path
from devskyy_operator.kube.errors import ApiError, Conflict, Invalid, NotFound
from devskyy_operator.redisq.schedules import (
    StoredSchedule,
    get_schedule,
    mirror_status,
    pending_changes,
    settle_change,
)
from devskyy_operator.redisq.scripts import Redis
from devskyy_operator.settings import Settings

log = logging.getLogger("devskyy.bridge")
MAX_PER_PASS = 100
REJECTED = "RejectedByCluster"


def build_schedule_resource(stored: StoredSchedule) -> dict[str, Any]:
    """The CR of an API schedule: its name, the owner as a label, the source marked."""
    return {
        "apiVersion": keys.API_VERSION,
        "kind": keys.SCHEDULE_KIND,
        "metadata": {
            "name": stored.name,
            "labels": {keys.LABEL_USER: label_value(stored.user_id)},
            "annotations": {keys.ANNOTATION_SOURCE: SOURCE_API},
        },
        "spec": stored.spec,
    }


def from_api(resource: dict[str, Any]) -> bool:
    annotations = (resource.get("metadata") or {}).get("annotations") or {}
    return bool(annotations.get(keys.ANNOTATION_SOURCE) == SOURCE_API)


class ScheduleSync:
    """The bridge's schedule loop; `rejected` are specs the apiserver refused (shown
    as the status until the next change)."""

    def __init__(self, kube: KubeClient, redis: Redis, settings: Settings) -> None:
        self.kube = kube
        self.redis = redis
        self.settings = settings
        self.path = resource_path(keys.API_VERSION, keys.SCHEDULE_PLURAL, settings.namespace)
        self.rejected: dict[str, dict[str, Any]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_mirror = 0.0
        while not stop.is_set():
            try:
                applied = await self.apply_pending()
                if applied or loop.time() >= next_mirror:
                    await self.mirror()
                    next_mirror = loop.time() + self.settings.schedule_status_interval_seconds
                wait = self.settings.bridge_interval_seconds
            except Exception as exc:  # the task loop goes on; try again later
                log.warning("schedule sync failed (%s: %s)", type(exc).__name__, exc)
                wait = self.settings.schedule_status_interval_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)

    async def apply_pending(self) -> int:
        """Apply every pending change; return how many were settled."""
        settled = 0
        for name, revision in sorted((await pending_changes(self.redis)).items())[:MAX_PER_PASS]:
            stored = await get_schedule(self.redis, name)
            if not await self._apply(name, stored):
                continue  # transient: stays pending
            settled += await settle_change(self.redis, name, revision)
        return settled

    async def _apply(self, name: str, stored: StoredSchedule | None) -> bool:
        """True when the cluster now matches (or can never match) the desired state."""
        self.rejected.pop(name, None)
        try:
            if stored is None:
                await self._delete(name)
            else:
                await self._create_or_replace(stored)
            return True
        except Invalid as exc:
            log.error("schedule %s rejected by the apiserver: %s", name, exc.message or exc)
            self.rejected[name] = {"reason": REJECTED, "message": str(exc.message or exc)[:1000]}
            return True
        except ApiError as exc:
            log.warning("schedule %s not applied yet (%s)", name, exc)
            return False
        except TRANSPORT_ERRORS as exc:
            log.warning("schedule %s not applied yet (%s: %s)", name, type(exc).__name__, exc)
            return False

    async def _create_or_replace(self, stored: StoredSchedule) -> None:
        desired = build_schedule_resource(stored)
        try:
            await self.kube.create(self.path, desired)
            log.info("schedule %s created for user %s", stored.name, stored.user_id)
            return
        except Conflict:
            pass
        existing = await self.kube.get(f"{self.path}/{stored.name}")
        if not from_api(existing):
            log.error("schedule %s exists, not created through the API: left alone", stored.name)
            return
        if existing.get("spec") != stored.spec:
            replace = [{"op": "replace", "path": "/spec", "value": stored.spec}]
            await self.kube.patch(f"{self.path}/{stored.name}", replace, patch_type="json")
            log.info("schedule %s updated", stored.name)

    async def _delete(self, name: str) -> None:
        try:
            existing = await self.kube.get(f"{self.path}/{name}")
        except NotFound:
            return
        if not from_api(existing):
            return
        uid = existing["metadata"]["uid"]
        await self.kube.delete(f"{self.path}/{name}", preconditions={"uid": uid})
        log.info("schedule %s deleted", name)

    async def mirror(self) -> None:
        """Copy the status of every API schedule's CR into Redis."""
        statuses = {
            item["metadata"]["name"]: item.get("status") or {}
            for item in await self.kube.list(self.path)
            if from_api(item)
        }
        statuses.update(self.rejected)
        await mirror_status(self.redis, statuses)
